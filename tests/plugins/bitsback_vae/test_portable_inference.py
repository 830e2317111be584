"""Portable iterative inference: integer Adam on the ELBO, checked against a numpy-int64 twin.

:mod:`bitsback_vae.portable_inference` runs its matrix products in float64 torch (exact
because every partial sum is an integer below 2**52). The reference below does the same
procedure with numpy int64 matrix products, Python ``math.isqrt`` and its own derivation
of the backward weights and Adam constants; identical integers from both are the evidence
that the float64 products are exact and the procedure portable.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from bitsback_core.distributions.fixed_gaussian import (
    LOG_STD_RANGE,
    MEAN_LIMIT,
    FixedGaussianParams,
)
from bitsback_core.models.interface import GaussianParams
from bitsback_core.portable.formats import ACT_BITS, LATENT_BITS, LOGIT_BITS, PROB_BITS
from bitsback_core.portable.tables import lookup, table
from bitsback_vae import portable_inference as pi
from bitsback_vae.model import BinaryVAE, PortableBinaryVAE
from bitsback_vae.proposals import IterativeProposal

MNIST1 = "train_bin_emnist_split=mnist_num=1"
ONE = 1 << LATENT_BITS
G = pi.GRAD_BITS
BOUND = 1 << (pi.GRAD_BITS + pi.GRAD_LIMIT_BITS)
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
DEVICES = ["cpu", pytest.param("cuda", marks=NO_CUDA)]


# ------------------------------------------------------------------ numpy-int64 reference


def _shift(a: np.ndarray, frm: int, to: int) -> np.ndarray:
    """Round half up from ``frm`` to ``to`` fraction bits (numpy int64)."""
    a = np.asarray(a, dtype=np.int64)
    if frm > to:
        return (a + (np.int64(1) << np.int64(frm - to - 1))) >> np.int64(frm - to)
    return a << np.int64(to - frm)


def _ref_backward_weights(weight: np.ndarray, bits: int, bound: int) -> tuple[np.ndarray, int]:
    s = 0
    while True:
        w = _shift(weight, bits, bits - s)
        if max(int(c) for c in np.abs(w).sum(axis=0)) * bound < 2**52:
            return w, bits - s
        s += 1


def _ref_gradients(net, x, mean, log_std, eps):  # type: ignore[no-untyped-def]
    layers = net.layers
    std = lookup(table("exp"), log_std, LATENT_BITS)
    offset = _shift(std * eps, 2 * LATENT_BITS, LATENT_BITS)
    z = np.clip(mean + offset, -8 * ONE, 8 * ONE)
    hs = [z]

    def fed(h, lay):  # type: ignore[no-untyped-def]  # format 2 narrows activations to in_bits
        return h if h is z else _shift(np.asarray(h, np.int64), ACT_BITS, lay.in_bits)

    for name in ("dec_fc1", "dec_fc2"):
        lay = layers[name]
        acc = fed(hs[-1], lay) @ lay.weight.T + lay.bias
        hs.append(lookup(table("tanh"), _shift(acc, lay.acc_bits, ACT_BITS), ACT_BITS))
    lay = layers["dec_fc3"]
    acc = fed(hs[-1], lay) @ lay.weight.T + lay.bias
    probs = lookup(table("sigmoid"), _shift(acc, lay.acc_bits, LOGIT_BITS), LOGIT_BITS)
    grad = _shift(probs - (x.astype(np.int64) << PROB_BITS), PROB_BITS, G)
    chain = (("dec_fc3", hs[2], 1 << G), ("dec_fc2", hs[1], BOUND), ("dec_fc1", None, BOUND))
    for name, h, bound in chain:
        w, bits = _ref_backward_weights(layers[name].weight, layers[name].weight_bits, bound)
        grad = np.clip(_shift(np.asarray(grad, np.int64) @ w, G + bits, G), -BOUND, BOUND)
        if h is not None:
            grad = _shift(grad * ((1 << 2 * ACT_BITS) - h * h), G + 2 * ACT_BITS, G)
    g_z = np.clip(grad + _shift(z, LATENT_BITS, G), -BOUND, BOUND)
    off = np.clip(offset, -128 * ONE, 128 * ONE)
    g_ls = np.clip(_shift(g_z * off, G + LATENT_BITS, G) - (1 << G), -BOUND, BOUND)
    return g_z, g_ls


def _ref_constants(t: int, lr: float) -> tuple[int, int]:
    bc1 = 1 - Fraction(9, 10) ** t
    bc2 = 1 - Fraction(999, 1000) ** t
    step = math.floor(Fraction(lr) * 2**24 / bc1 + Fraction(1, 2))
    return step, math.isqrt(math.floor(Fraction(2**48) / bc2))


def reference_adam(
    model: PortableBinaryVAE, x: np.ndarray, params: FixedGaussianParams, eps: np.ndarray, lr: float
) -> tuple[np.ndarray, np.ndarray]:
    """The procedure of :func:`pi.portable_adam` in numpy int64 and Python integers."""
    mean = np.clip(params.mean, -MEAN_LIMIT * ONE, MEAN_LIMIT * ONE)
    log_std = np.clip(params.log_std, LOG_STD_RANGE[0] * ONE, LOG_STD_RANGE[1] * ONE)
    m = [np.zeros_like(mean), np.zeros_like(mean)]
    v = [np.zeros_like(mean), np.zeros_like(mean)]
    for t in range(1, eps.shape[0] + 1):
        grads = _ref_gradients(model.net, np.asarray(x), mean, log_std, eps[t - 1])
        step_size, inv_sqrt = _ref_constants(t, lr)
        steps = []
        for k, g in enumerate(grads):
            m[k] = m[k] + (g - m[k] + 5) // 10
            v[k] = v[k] + (g * g - v[k] + 500) // 1000
            root = np.array([math.isqrt(int(a)) for a in v[k].reshape(-1)], dtype=np.int64)
            root = root.reshape(v[k].shape)
            denom = _shift(root * inv_sqrt, 24, 0) + 1
            ratio = np.clip((m[k] << 30) // denom, -(8 << 30), 8 << 30)
            steps.append(_shift(ratio * step_size, 54, LATENT_BITS))
        mean = np.clip(mean - steps[0], -MEAN_LIMIT * ONE, MEAN_LIMIT * ONE)
        log_std = np.clip(log_std - steps[1], LOG_STD_RANGE[0] * ONE, LOG_STD_RANGE[1] * ONE)
    return mean, log_std


# ------------------------------------------------------------------------------ fixtures


def _random_model(device: str = "cpu", version: int | None = None) -> PortableBinaryVAE:
    torch.manual_seed(0)
    return BinaryVAE.from_config({"latent_dim": 50}, device=device).portable(version)


def _random_images(n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 784)) < 0.2).astype(np.uint8)


@pytest.fixture(scope="module")
def checkpoint_model(paper_checkpoint: Callable[[str], Path]) -> BinaryVAE:
    path = paper_checkpoint(MNIST1)
    if not path.is_file():
        pytest.skip(f"checkpoint {path} not available")
    return BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path)


# --------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lr", [0.01, 0.2])
@pytest.mark.parametrize("version", [1, 2])
def test_random_network_matches_the_numpy_reference(device: str, lr: float, version: int) -> None:
    model = _random_model(device, version)
    assert model.portable_format == version
    x = _random_images(4)
    got = pi.portable_iterative_posterior(model, x, seed=11, steps=6, lr=lr)
    eps = pi.portable_noise(11, (6, 4, 50))
    mean, log_std = reference_adam(model, x, model.posterior(x), eps, lr)
    np.testing.assert_array_equal(got.mean, mean)
    np.testing.assert_array_equal(got.log_std, log_std)
    assert not np.array_equal(got.mean, model.posterior(x).mean)


def test_clamps_match_the_numpy_reference() -> None:
    """Parameters at and beyond every clamp: |mean| > 64, log_std at both ends, |z| > 8."""
    model = _random_model()
    rng = np.random.default_rng(5)
    x = _random_images(3, seed=2)
    params = FixedGaussianParams(
        mean=rng.integers(-70 * ONE, 70 * ONE, (3, 50)),
        log_std=rng.integers(-10 * ONE, 13 * ONE, (3, 50)),
    )
    eps = pi.portable_noise(3, (4, 3, 50))
    got = pi.portable_adam(model, x, params, eps, lr=0.5)
    mean, log_std = reference_adam(model, x, params, eps, lr=0.5)
    np.testing.assert_array_equal(got.mean, mean)
    np.testing.assert_array_equal(got.log_std, log_std)


def test_checkpoint_matches_the_numpy_reference(
    checkpoint_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    model = checkpoint_model.portable()
    x = emnist_mnist_200[:3]
    got = pi.portable_iterative_posterior(model, x, seed=4, steps=5, lr=0.01)
    eps = pi.portable_noise(4, (5, 3, 50))
    mean, log_std = reference_adam(model, x, model.posterior(x), eps, 0.01)
    np.testing.assert_array_equal(got.mean, mean)
    np.testing.assert_array_equal(got.log_std, log_std)


def test_decoder_forward_is_the_models() -> None:
    """The forward pass kept for backprop gives the model's own logits."""
    model = _random_model()
    dec = pi._Decoder(model)
    z = np.random.default_rng(3).integers(-8 * ONE, 8 * ONE, (5, 50))
    h = dec.hidden("dec_fc2", dec.hidden("dec_fc1", torch.as_tensor(z)))
    acc_bits = model.net.layers["dec_fc3"].acc_bits
    logits = pi.rescale(dec.linear("dec_fc3", h), acc_bits, LOGIT_BITS)
    np.testing.assert_array_equal(logits.numpy(), model.likelihood_logits(z))


def test_images_do_not_interact() -> None:
    """Given its noise, an image's result is the same alone as in a batch."""
    model = _random_model()
    x = _random_images(3, seed=7)
    start = model.posterior(x)
    eps = pi.portable_noise(9, (5, 3, 50))
    batch = pi.portable_adam(model, x, start, eps, 0.05)
    for i in range(3):
        one = slice(i, i + 1)
        alone = pi.portable_adam(model, x[one], start[one], eps[:, one], 0.05)
        np.testing.assert_array_equal(alone.mean[0], batch.mean[i])
        np.testing.assert_array_equal(alone.log_std[0], batch.log_std[i])
    y = _random_images(3, seed=8)
    y[1] = x[1]  # same position (same noise), other neighbours
    a, b = (pi.portable_iterative_posterior(model, z, seed=9, steps=5, lr=0.05) for z in (x, y))
    np.testing.assert_array_equal(a.mean[1], b.mean[1])
    np.testing.assert_array_equal(a.log_std[1], b.log_std[1])


def _neg_elbo_nats(float_model: BinaryVAE, x: np.ndarray, params: FixedGaussianParams) -> float:
    """256-sample negative ELBO (nats per image) of the float model under ``params``."""
    mean, std = params.to_float()
    posterior = GaussianParams(mean, std)
    return float(-float_model.log_weights(x, 256, seed=1, posterior=posterior).mean())


def test_optimisation_improves_the_elbo(request: pytest.FixtureRequest) -> None:
    """50 steps lower the negative ELBO (256-sample estimate, float model) on 20 images.

    Measured with the mnist checkpoint on EMNIST test images 0-19: 0.2253 -> 0.2218
    bits/dim (-1.9 nats per image); the float IterativeProposal reaches 0.2221.
    Without the shared checkpoint and data: a random network on random images.
    """
    try:
        float_model = request.getfixturevalue("checkpoint_model")
        x, least = request.getfixturevalue("emnist_mnist_200")[:20], 1.0
    except pytest.skip.Exception:
        torch.manual_seed(0)
        float_model, x = BinaryVAE.from_config({"latent_dim": 50}), _random_images(20)
        least = 0.1
    model = float_model.portable()
    runs = [pi.portable_iterative_posterior(model, x, seed=3, steps=n, lr=0.01) for n in (0, 50)]
    before, after = (_neg_elbo_nats(float_model, x, params) for params in runs)
    assert after < before - least


def test_the_proposal_dispatches_to_integer_adam() -> None:
    model = _random_model()
    x = _random_images(3)
    proposal = IterativeProposal(model, steps=4, lr=0.02)
    got = proposal(x, seed=6)
    assert isinstance(got, FixedGaussianParams) and got.mean.dtype == got.log_std.dtype == np.int64
    expected = pi.portable_iterative_posterior(model, x, seed=6, steps=4, lr=0.02)
    np.testing.assert_array_equal(got.mean, expected.mean)
    np.testing.assert_array_equal(got.log_std, expected.log_std)
    assert not np.array_equal(proposal(x, seed=7).mean, got.mean)
    unchanged = IterativeProposal(model, steps=0)(x, seed=6)
    np.testing.assert_array_equal(unchanged.mean, model.posterior(x).mean)
    np.testing.assert_array_equal(unchanged.log_std, model.posterior(x).log_std)
    with pytest.raises(ValueError, match="lr <= 1"):
        IterativeProposal(model, lr=2.0)

    class OtherPortable:
        arithmetic = "portable"

    with pytest.raises(TypeError, match="PortableBinaryVAE"):
        IterativeProposal(OtherPortable())  # type: ignore[arg-type]


def test_noise_is_pinned_and_standard_normal() -> None:
    """The noise stream is fixed (a hash pins it) and inverts the ndtr table exactly."""
    eps = pi.portable_noise(0, (2, 3, 50))
    assert hashlib.sha256(eps.astype("<i8").tobytes()).hexdigest()[:16] == PINNED_NOISE
    raw = np.random.PCG64(0).random_raw(300)
    cdf = [int(c) for c in table("ndtr").values[: table("ndtr").last + 1]]
    lo = table("ndtr").lo_steps
    for r, e in zip(raw, eps.reshape(-1)):
        target = 2 * (int(r) >> 32) + 1
        i = bisect.bisect_right([2 * c for c in cdf], target)
        inside = ((target - 2 * cdf[i - 1]) << 10) // (2 * cdf[i] - 2 * cdf[i - 1])
        assert int(e) == ((i - 1 + lo) << 10) + inside
    many = pi.portable_noise(1, (400_000,)) / ONE
    assert abs(many.mean()) < 0.01 and abs(many.var() - 1) < 0.01
    assert abs(np.mean(many**4) - 3) < 0.05


#: First 16 hex digits of the sha256 of ``portable_noise(0, (2, 3, 50))`` (little-endian int64).
PINNED_NOISE = "d3c3d2aa2858e4c6"


def test_integer_square_root_is_exact() -> None:
    rng = np.random.default_rng(0)
    roots = rng.integers(0, 2**31, 2000)
    squares = roots * roots
    v = np.concatenate([squares, squares - 1, squares + 1, rng.integers(0, 2**62, 2000)])
    v = np.maximum(v, 0)
    got = pi.isqrt_floor(torch.as_tensor(v)).numpy()
    np.testing.assert_array_equal(got, [math.isqrt(int(a)) for a in v])


def test_backward_weights_keep_products_exact(checkpoint_model: BinaryVAE) -> None:
    net = checkpoint_model.portable().net
    for name, bound in (("dec_fc3", 1 << G), ("dec_fc2", BOUND), ("dec_fc1", BOUND)):
        w, bits = pi.backward_weight(net.layers[name], bound)
        assert int(np.abs(w).sum(axis=0).max()) * bound < 2**52
        layer = net.layers[name]
        if bits < layer.weight_bits:  # one more fraction bit would break the bound
            finer = pi.rescale(layer.weight, layer.weight_bits, bits + 1)
            assert int(np.abs(finer).sum(axis=0).max()) * bound >= 2**52
        ref_w, ref_bits = _ref_backward_weights(layer.weight, layer.weight_bits, bound)
        assert bits == ref_bits
        np.testing.assert_array_equal(w, ref_w)
