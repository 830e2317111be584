"""Tests for bitsback_vae.bounds: evaluation bounds in bits/dim and the training loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bitsback_vae.bounds import bounds_bpd, loss, nats_to_bpd
from bitsback_vae.model import BinaryVAE

#: Paper's BB-ELBO net bitrate for MNIST -> MNIST (bits/dim).
PAPER_ELBO_BPD = 0.2382


def test_nats_to_bpd() -> None:
    assert nats_to_bpd(784 * math.log(2.0), 784) == pytest.approx(1.0)


def test_mnist_elbo_matches_the_paper_and_iwae_is_tighter(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    result = bounds_bpd(mnist1_model, emnist_mnist_200, num_particles=50, seed=0, batch_size=64)
    assert result["num_images"] == 200 and result["num_particles"] == 50
    assert result["elbo_bpd_per_image"].shape == result["iwae_bpd_per_image"].shape == (200,)
    assert abs(result["elbo_bpd"] - PAPER_ELBO_BPD) < 0.02
    assert result["iwae_bpd"] <= result["elbo_bpd"]
    assert np.all(result["iwae_bpd_per_image"] <= result["elbo_bpd_per_image"] + 1e-12)
    # For a model trained with the ELBO, 50 particles buy a clearly visible gain.
    assert result["elbo_bpd"] - result["iwae_bpd"] > 0.002
    assert result["elbo_bpd"] == pytest.approx(np.mean(result["elbo_bpd_per_image"]))


def test_single_particle_iwae_equals_elbo(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    result = bounds_bpd(mnist1_model, emnist_mnist_200[:50], num_particles=1, seed=3)
    np.testing.assert_array_equal(result["iwae_bpd_per_image"], result["elbo_bpd_per_image"])
    assert result["iwae_bpd"] == result["elbo_bpd"]


def test_bounds_are_deterministic_and_use_fresh_noise_per_batch(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = np.concatenate([emnist_mnist_200[:10], emnist_mnist_200[:10]])
    a = bounds_bpd(mnist1_model, x, num_particles=2, seed=5, batch_size=10)
    b = bounds_bpd(mnist1_model, x, num_particles=2, seed=5, batch_size=10)
    np.testing.assert_array_equal(a["elbo_bpd_per_image"], b["elbo_bpd_per_image"])
    first, second = a["elbo_bpd_per_image"][:10], a["elbo_bpd_per_image"][10:]
    assert not np.array_equal(first, second)  # same images, independent noise


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_particles": 0}, "num_particles"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bounds_reject_bad_arguments(
    mnist1_model: BinaryVAE, kwargs: dict[str, int], match: str
) -> None:
    args = {"num_particles": 1, "seed": 0, "batch_size": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        bounds_bpd(mnist1_model, np.zeros((3, 784), dtype=np.uint8), **args)
    with pytest.raises(ValueError, match="non-empty"):
        bounds_bpd(mnist1_model, np.zeros((0, 784)), 1, 0)


def test_loss_matches_log_weights_for_the_same_noise(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:8]
    xt = torch.as_tensor(x, dtype=torch.float32)
    log_w = mnist1_model.log_weights(x, 5, seed=11)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        elbo = loss(mnist1_model.network, xt, "ELBO", 5, generator=gen)
    assert elbo.item() == pytest.approx(-log_w.mean(), rel=1e-5)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        iwae = loss(mnist1_model, xt, "IWAE", 5, generator=gen)  # a model works too
    m = log_w.max(0)
    expected = -(m + np.log(np.exp(log_w - m).mean(0))).mean()
    assert iwae.item() == pytest.approx(expected, rel=1e-5)
    assert iwae.item() < elbo.item()


def test_loss_with_one_particle_iwae_equals_elbo(emnist_mnist_200: np.ndarray) -> None:
    torch.manual_seed(0)
    net = BinaryVAE.from_config({"latent_dim": 10}).network
    xt = torch.as_tensor(emnist_mnist_200[:8], dtype=torch.float32)
    elbo = loss(net, xt, "ELBO", 1, generator=torch.Generator().manual_seed(4))
    iwae = loss(net, xt, "IWAE", 1, generator=torch.Generator().manual_seed(4))
    assert torch.equal(elbo, iwae)


@pytest.mark.parametrize("bound", ["ELBO", "IWAE"])
def test_loss_gradients_reach_every_parameter(bound: str, emnist_mnist_200: np.ndarray) -> None:
    torch.manual_seed(0)
    net = BinaryVAE.from_config({"latent_dim": 10}).network
    xt = torch.as_tensor(emnist_mnist_200[:16], dtype=torch.float32)
    value = loss(net, xt, bound, 3)
    assert value.ndim == 0 and torch.isfinite(value) and value.item() > 0
    value.backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


def test_loss_rejects_bad_arguments() -> None:
    net = BinaryVAE.from_config({"latent_dim": 4}).network
    xt = torch.zeros(2, 784)
    with pytest.raises(ValueError, match="bound"):
        loss(net, xt, "elbo-ish", 1)
    with pytest.raises(ValueError, match="num_particles"):
        loss(net, xt, "IWAE", 0)
    with pytest.raises(ValueError, match="shape"):
        loss(net, torch.zeros(784), "ELBO", 1)
