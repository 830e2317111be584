"""ContextVAE: training likelihood, the portable twin's identity, and coding end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bitsback_core.session import CodingSession
from bitsback_ctxvae.context import contexts
from bitsback_ctxvae.distribution import ContextBernoulli
from bitsback_ctxvae.model import ContextVAE
from bitsback_ctxvae.network import ContextVAENetwork


def _network(seed: int = 0) -> ContextVAENetwork:
    torch.manual_seed(seed)
    net = ContextVAENetwork(8)
    with torch.no_grad():
        net.ctx_logit.normal_(0.0, 2.0)
    return net


def _images(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 784)) < 0.2).astype(np.uint8)


def test_the_likelihood_adds_the_context_logit_to_the_decoder_logit() -> None:
    net = _network()
    x = _images(3)
    z = torch.randn(2, 3, 8)
    xt = torch.as_tensor(x, dtype=torch.float32)
    logits = net.decode(z).double() + net.ctx_logit.double()[torch.as_tensor(contexts(x))]
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, xt.double().expand_as(logits), reduction="none"
    ).sum(-1)
    torch.testing.assert_close(net.log_likelihood(xt, z).double(), expected, rtol=1e-5, atol=1e-3)


def test_the_portable_identity_covers_the_context_table() -> None:
    a = ContextVAE(_network(0)).portable()
    net = _network(0)
    with torch.no_grad():
        net.ctx_logit[5] += 0.5
    b = ContextVAE(net).portable()
    assert a.identity() != b.identity()
    assert a.identity() == ContextVAE(_network(0)).portable().identity()
    assert a.identity() != a.float_model.portable().net.sha256()


def test_portable_likelihood_is_a_context_bernoulli_over_the_vae_logits() -> None:
    model = ContextVAE(_network()).portable()
    z = np.random.default_rng(1).integers(-(1 << 20), 1 << 20, size=(4, 8))
    dist = model.likelihood(z, 16)
    assert isinstance(dist, ContextBernoulli)
    np.testing.assert_array_equal(dist.base, model.likelihood_logits(z))
    np.testing.assert_array_equal(dist.table, model.table)


def test_float_coding_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="portable"):
        ContextVAE(_network()).likelihood(np.zeros((1, 8)), 16)


def test_checkpoints_round_trip(tmp_path: Path) -> None:
    model = ContextVAE(_network(3))
    model.save(tmp_path / "model.pt")
    again = ContextVAE.from_config({"latent_dim": 8}, tmp_path / "model.pt")
    assert again.portable().identity() == model.portable().identity()


@pytest.mark.parametrize(
    ("coder", "particles"),
    [("BitsBackCoder", 1), ("ISBitsBackCoder", 3), ("CISBitsBackCoder", 3)],
)
def test_coders_decode_what_they_encode(tmp_path: Path, coder: str, particles: int) -> None:
    ContextVAE(_network(4)).save(tmp_path / "model.pt")
    (tmp_path / "train_config.yml").write_text(
        yaml.safe_dump({"model": "ContextVAE", "latent_dim": 8, "binarize": False})
    )
    session = CodingSession.open(
        tmp_path / "train_config.yml", coder, num_particles=particles, chains=2, lanes=1
    )
    x = _images(6, seed=5).reshape(6, 28, 28).astype(bool)
    enc = session.encode(x)
    np.testing.assert_array_equal(session.decode(enc.data), x)
    assert enc.net_bpd > 0
