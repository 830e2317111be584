"""Tests for bitsback_vae.network: parameter layout and the log-weight formula."""

from __future__ import annotations

import math

import pytest
import torch

from bitsback_vae.network import BinaryVAENetwork

PAPER_SHAPES = {
    "enc_fc1.weight": (200, 784),
    "enc_fc1.bias": (200,),
    "enc_fc2.weight": (200, 200),
    "enc_fc2.bias": (200,),
    "enc_fc31.weight": (50, 200),
    "enc_fc31.bias": (50,),
    "enc_fc32.weight": (50, 200),
    "enc_fc32.bias": (50,),
    "dec_fc1.weight": (200, 50),
    "dec_fc1.bias": (200,),
    "dec_fc2.weight": (200, 200),
    "dec_fc2.bias": (200,),
    "dec_fc3.weight": (784, 200),
    "dec_fc3.bias": (784,),
}


def test_parameter_names_and_shapes_match_the_paper() -> None:
    shapes = {k: tuple(v.shape) for k, v in BinaryVAENetwork().state_dict().items()}
    assert shapes == PAPER_SHAPES


def test_latent_dim_is_configurable() -> None:
    net = BinaryVAENetwork(latent_dim=8)
    mean, log_std = net.encode(torch.zeros(3, 784))
    assert mean.shape == log_std.shape == (3, 8)
    assert net.decode(torch.zeros(2, 5, 8)).shape == (2, 5, 784)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "50"])
def test_invalid_latent_dim_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        BinaryVAENetwork(latent_dim=bad)  # type: ignore[arg-type]


def test_log_weights_match_torch_distributions() -> None:
    torch.manual_seed(0)
    net = BinaryVAENetwork(latent_dim=6).double()
    x = (torch.rand(4, 784, dtype=torch.float64) < 0.3).double()
    eps = torch.randn(3, 4, 6, dtype=torch.float64)
    mean, log_std = net.encode(x)
    got = net.log_weights(x, eps, mean, log_std)

    z = mean + log_std.exp() * eps
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    q = torch.distributions.Normal(mean, log_std.exp()).log_prob(z).sum(-1)
    lik = torch.distributions.Bernoulli(logits=net.decode(z)).log_prob(x).sum(-1)
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, prior + lik - q, rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(net.encode_log_weights(x, eps), got)


def test_log_likelihood_is_stable_for_confident_logits() -> None:
    net = BinaryVAENetwork(latent_dim=2)
    with torch.no_grad():
        net.dec_fc3.weight.zero_()
        net.dec_fc3.bias.fill_(-200.0)  # sigmoid underflows to 0 in float32
    x = torch.ones(1, 784)
    ll = net.log_likelihood(x, torch.zeros(1, 2))
    assert torch.isfinite(ll).all()
    assert ll.item() == pytest.approx(-200.0 * 784, rel=1e-6)
    assert math.isclose(net.log_likelihood(1 - x, torch.zeros(1, 2)).item(), 0.0, abs_tol=1e-3)
