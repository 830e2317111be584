"""``models/bounds.py``: the negative IWAE-N bound (the ELBO for N=1) in bits/dim."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bitsback_core.models.bounds import ideal_bpd


class _FixedWeights:
    """A stand-in model whose log weights are a pure function of (images, particles, seed).

    Only ``log_weights`` is used by the bound; recording the calls shows how the images
    are batched and seeded.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def log_weights(self, x: np.ndarray, num_particles: int, seed: int) -> np.ndarray:
        self.calls.append((x.shape[0], num_particles, seed))
        rng = np.random.default_rng(seed)
        base = -np.asarray(x, dtype=np.float64).sum(axis=1)  # one value per image, nats
        return base[None, :] - rng.uniform(0.0, 2.0, size=(num_particles, x.shape[0]))


def _by_hand(log_w: np.ndarray, dims: int) -> float:
    """Mean over images of ``-log mean_k exp(log_w)``, converted to bits per dimension."""
    per_image = -np.log(np.mean(np.exp(log_w), axis=0))
    return float(per_image.sum() / (log_w.shape[1] * dims * math.log(2)))


def _images(num: int, dims: int = 12) -> np.ndarray:
    return (np.arange(num * dims).reshape(num, dims) % 3 == 0).astype(np.uint8)


@pytest.mark.parametrize("particles", [1, 4])
def test_the_bound_is_the_mean_negative_log_mean_weight_in_bits(particles: int) -> None:
    x = _images(7)
    model: Any = _FixedWeights()
    expected = _by_hand(_FixedWeights().log_weights(x, particles, 5), x.shape[1])
    assert ideal_bpd(model, x, particles, 5) == pytest.approx(expected, rel=1e-12)
    assert model.calls == [(7, particles, 5)]


def test_batches_are_seeded_by_their_offset() -> None:
    x = _images(7)
    model: Any = _FixedWeights()
    got = ideal_bpd(model, x, 3, 5, batch_size=3)
    assert model.calls == [(3, 3, 5), (3, 3, 8), (1, 3, 11)]
    parts = [_FixedWeights().log_weights(x[lo : lo + 3], 3, 5 + lo) for lo in (0, 3, 6)]
    assert got == pytest.approx(_by_hand(np.concatenate(parts, axis=1), x.shape[1]), rel=1e-12)


def test_large_weights_do_not_overflow() -> None:
    """The log-mean-exp is taken around its peak: weights of -2000 nats still give a figure."""

    class Far(_FixedWeights):
        def log_weights(self, x: np.ndarray, num_particles: int, seed: int) -> np.ndarray:
            return super().log_weights(x, num_particles, seed) - 2000.0

    x = _images(4)
    shifted = ideal_bpd(Far(), x, 4, 1)  # type: ignore[arg-type]
    plain = ideal_bpd(_FixedWeights(), x, 4, 1)  # type: ignore[arg-type]
    assert math.isfinite(shifted)
    assert shifted == pytest.approx(plain + 2000.0 / (x.shape[1] * math.log(2)), rel=1e-9)
