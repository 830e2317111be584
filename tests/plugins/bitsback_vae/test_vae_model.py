"""Tests for bitsback_vae.model: checkpoint loading and the numpy boundary."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from bitsback_core.distributions.bernoulli import Bernoulli
from bitsback_core.models.interface import DifferentiableModel, GaussianParams
from bitsback_vae.model import BinaryVAE, CheckpointError, coding_threads

PAPER_RUNS = [
    f"train_bin_emnist_split={split}_num={num}"
    for split in ("mnist", "letters")
    for num in (1, 5, 50)
]


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_every_paper_checkpoint_loads_strictly_and_gives_finite_outputs(
    run: str, paper_checkpoint: Callable[[str], Path], emnist_mnist_200: np.ndarray
) -> None:
    path = paper_checkpoint(run)
    model = BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path)
    on_disk = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in model.network.state_dict().items():
        assert torch.equal(value, on_disk[key]), key
    x = emnist_mnist_200[:16]
    post = model.posterior(x)
    probs = model.likelihood_probs(post.mean)
    log_w = model.log_weights(x, 2, seed=1)
    assert np.all(np.isfinite(post.mean)) and np.all(post.std > 0)
    assert np.all((probs >= 0) & (probs <= 1))
    assert log_w.shape == (2, 16) and np.all(np.isfinite(log_w)) and np.all(log_w < 0)


def test_missing_checkpoint_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="not found") as info:
        BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path)
    assert str(path) in str(info.value)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    state = BinaryVAE.from_config({"latent_dim": 50}).network.state_dict()
    del state["enc_fc1.bias"]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "bad_keys.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path)
    message = str(info.value)
    assert str(path) in message
    assert "enc_fc1.bias" in message and "extra.weight" in message


def test_wrong_shapes_are_named(paper_checkpoint: Callable[[str], Path]) -> None:
    path = paper_checkpoint("train_bin_emnist_split=mnist_num=1")
    with pytest.raises(CheckpointError) as info:
        BinaryVAE.from_config({"latent_dim": 20}, checkpoint=path)
    message = str(info.value)
    assert str(path) in message
    for key in ("enc_fc31.weight", "enc_fc32.bias", "dec_fc1.weight"):
        assert key in message
    assert "enc_fc1.weight" not in message  # that one fits


def test_unreadable_and_unsafe_checkpoints_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="cannot read"):
        BinaryVAE.from_config({"latent_dim": 50}, checkpoint=garbage)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"object": SimpleNamespace(a=1)}, unsafe)  # not allowed by weights_only
    with pytest.raises(CheckpointError, match="cannot read"):
        BinaryVAE.from_config({"latent_dim": 50}, checkpoint=unsafe)
    not_a_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(CheckpointError, match="plain state dict"):
        BinaryVAE.from_config({"latent_dim": 50}, checkpoint=not_a_dict)


def test_config_by_mapping_or_attributes() -> None:
    assert BinaryVAE.from_config({"latent_dim": 7}).latent_dim == 7
    assert BinaryVAE.from_config(SimpleNamespace(latent_dim=np.int64(9))).latent_dim == 9
    with pytest.raises(ValueError, match="latent_dim"):
        BinaryVAE.from_config({"latent": 7})
    with pytest.raises(ValueError, match="device"):
        BinaryVAE.from_config({"latent_dim": 7}, device="not-a-device")


def test_model_attributes(mnist1_model: BinaryVAE) -> None:
    assert isinstance(mnist1_model, DifferentiableModel)
    assert mnist1_model.PLUGIN_NAME == "BinaryVAE"
    assert (mnist1_model.obs_dim, mnist1_model.num_obs_symbols) == (784, 2)
    assert mnist1_model.latent_dim == 50
    assert mnist1_model.device == "cpu"


def test_posterior_is_float64_and_repeatable(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:32]
    post = mnist1_model.posterior(x)
    assert isinstance(post, GaussianParams)
    assert post.mean.dtype == post.std.dtype == np.float64
    assert post.mean.shape == post.std.shape == (32, 50)
    again = mnist1_model.posterior(x.copy())
    np.testing.assert_array_equal(post.mean, again.mean)
    np.testing.assert_array_equal(post.std, again.std)
    with coding_threads():
        mean_t, log_std_t = mnist1_model.torch_posterior(torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_array_equal(post.mean, mean_t.detach().double().numpy())
    np.testing.assert_array_equal(post.std, log_std_t.exp().detach().double().numpy())


def test_likelihood_is_a_bernoulli_on_the_probabilities(mnist1_model: BinaryVAE) -> None:
    z = np.random.default_rng(0).standard_normal((5, 50))
    probs = mnist1_model.likelihood_probs(z)
    assert probs.shape == (5, 784) and probs.dtype == np.float64
    np.testing.assert_array_equal(probs, mnist1_model.likelihood_probs(z.copy()))
    dist = mnist1_model.likelihood(z, 16)
    assert isinstance(dist, Bernoulli)
    assert dist.batch_shape == (5, 784) and dist.prec == 16
    np.testing.assert_array_equal(dist.count_one, Bernoulli(probs, 16).count_one)


def test_log_weights_match_an_independent_numpy_computation(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:6]
    got = mnist1_model.log_weights(x, 3, seed=123)
    assert got.shape == (3, 6) and got.dtype == np.float64
    eps = torch.randn((3, 6, 50), generator=torch.Generator().manual_seed(123)).double().numpy()
    post = mnist1_model.posterior(x)
    z = post.mean + post.std * eps
    probs = np.stack([mnist1_model.likelihood_probs(zk) for zk in z])
    log_lik = np.where(x == 1, np.log(probs), np.log1p(-probs)).sum(-1)
    log_prior = stats.norm.logpdf(z).sum(-1)
    log_q = stats.norm.logpdf(z, loc=post.mean, scale=post.std).sum(-1)
    np.testing.assert_allclose(got, log_prior + log_lik - log_q, rtol=1e-5, atol=1e-3)


def test_log_weights_are_deterministic_in_seed_and_batch_shape(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:20]
    a = mnist1_model.log_weights(x, 4, seed=7)
    np.testing.assert_array_equal(a, mnist1_model.log_weights(x.copy(), 4, seed=7))
    assert not np.array_equal(a, mnist1_model.log_weights(x, 4, seed=8))
    # Same batch shape, other images elsewhere in the batch: row 0 is unaffected.
    y = emnist_mnist_200[100:120].copy()
    y[0] = x[0]
    np.testing.assert_allclose(mnist1_model.log_weights(y, 4, seed=7)[:, 0], a[:, 0], rtol=1e-6)


def test_log_weights_under_an_explicit_posterior(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:10]
    amortized = mnist1_model.posterior(x)
    np.testing.assert_allclose(
        mnist1_model.log_weights(x, 3, seed=2, posterior=amortized),
        mnist1_model.log_weights(x, 3, seed=2),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="batch size"):
        mnist1_model.log_weights(x, 3, seed=2, posterior=amortized[:5])
    with pytest.raises(ValueError, match="positive"):
        bad = GaussianParams(mean=amortized.mean, std=np.zeros_like(amortized.std))
        mnist1_model.log_weights(x, 3, seed=2, posterior=bad)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.posterior(np.zeros((3, 783))), "shape"),
        (lambda m: m.posterior(np.full((3, 784), 2)), "binary"),
        (lambda m: m.likelihood_probs(np.zeros((3, 49))), "shape"),
        (lambda m: m.likelihood_probs(np.full((3, 50), np.nan)), "finite"),
        (lambda m: m.log_weights(np.zeros((3, 784)), 0, 0), "num_particles"),
        (lambda m: m.log_weights(np.zeros((3, 784)), 1, -1), "seed"),
    ],
)
def test_bad_inputs_are_clear_errors(
    mnist1_model: BinaryVAE, call: Callable[[BinaryVAE], object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        call(mnist1_model)


def test_torch_log_likelihood_is_differentiable(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = torch.as_tensor(emnist_mnist_200[:4], dtype=torch.float32)
    z = torch.zeros(3, 4, 50, requires_grad=True)
    ll = mnist1_model.torch_log_likelihood(x, z)
    assert ll.shape == (3, 4)
    (grad,) = torch.autograd.grad(ll.sum(), [z])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    probs = mnist1_model.likelihood_probs(np.zeros((4, 50)))
    expected = np.where(emnist_mnist_200[:4] == 1, np.log(probs), np.log1p(-probs)).sum(-1)
    np.testing.assert_allclose(ll[0].detach().double().numpy(), expected, rtol=1e-5)


def test_save_round_trip(mnist1_model: BinaryVAE, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "model.pt"
    mnist1_model.save(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(t.device.type == "cpu" for t in state.values())
    reloaded = BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path)
    z = np.random.default_rng(1).standard_normal((2, 50))
    np.testing.assert_array_equal(reloaded.likelihood_probs(z), mnist1_model.likelihood_probs(z))
    assert math.isfinite(float(reloaded.log_weights(np.zeros((1, 784)), 1, 0)[0, 0]))


def test_coding_probabilities_do_not_depend_on_the_thread_count(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    """Encoder and decoder may run with different torch thread settings."""
    x = emnist_mnist_200[:100]
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 3, 4):
            torch.set_num_threads(threads)
            post = mnist1_model.posterior(x)
            results.append((post.mean, mnist1_model.likelihood_probs(post.mean)))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    for mean, probs in results[1:]:
        np.testing.assert_array_equal(mean, results[0][0])
        np.testing.assert_array_equal(probs, results[0][1])
