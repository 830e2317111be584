"""The vectorized Bernoulli kernels give exactly the counts of the scalar libm rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bitsback_core.distributions import _kernels as kernels


def scalar_counts(logits: np.ndarray, prec: int) -> np.ndarray:
    """The definition, one element at a time in Python: clip(rint(sigmoid(l) * 2**prec), 1, 2**prec - 1)."""
    total = float(1 << prec)
    out = np.empty(logits.shape, dtype=np.int64)
    for index, logit in np.ndenumerate(logits):
        try:
            e = math.exp(-float(logit))
        except OverflowError:  # C's exp gives inf, so the coin gets count 1
            e = math.inf
        p = 1.0 / (1.0 + e)
        out[index] = int(min(max(np.rint(p * total), 1.0), total - 1.0))
    return out


def boundary_logits(rng: np.random.Generator, prec: int, size: int) -> np.ndarray:
    """Logits whose scaled sigmoid sits at (or one ulp beside) a half-integer: where rounding is decided."""
    total = float(1 << prec)
    k = rng.integers(0, 1 << prec, size=size) + 0.5
    at = np.log(k / (total - k))
    at = at[np.isfinite(at)]
    return np.concatenate(
        [at, np.nextafter(at, np.inf), np.nextafter(at, -np.inf), at.astype(np.float32)]
    )


@pytest.mark.parametrize("prec", [1, 8, 16, 20, 32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_counts_equal_the_scalar_rule(prec: int, dtype: type) -> None:
    rng = np.random.default_rng(prec)
    logits = np.concatenate(
        [
            rng.normal(size=3000) * 4,
            rng.normal(size=1000) * 30,  # saturated both ways, and beyond the clamp
            [0.0, -0.0, 40.0, -40.0, 41.0, -41.0, 700.0, -700.0, 1e30, -1e30],
            boundary_logits(rng, prec, 1500),
        ]
    ).astype(dtype)
    logits = logits[: logits.size // 10 * 10].reshape(-1, 10)
    np.testing.assert_array_equal(
        kernels.counts_from_logits(logits, prec), scalar_counts(logits, prec)
    )


def test_fast_exp_is_well_inside_the_trusted_error() -> None:
    """The margin argument needs the fast exp within 1e-14 (relative); the margin allows 1e-12."""
    logits = np.concatenate(
        [np.linspace(-40.0, 40.0, 400_001), np.random.default_rng(5).uniform(-40, 40, 100_000)]
    )
    ep = np.empty_like(logits)
    nb = np.empty(logits.shape, dtype=np.int64)
    kernels._fast_exp_neg(logits, ep, nb)
    fast = ep * nb.view(np.float64)
    exact = np.exp(-logits.astype(np.longdouble))
    rel = np.abs((fast.astype(np.longdouble) - exact) / exact)
    assert float(rel.max()) < 1e-14


def test_the_thread_split_does_not_change_results() -> None:
    rng = np.random.default_rng(9)
    logits = (rng.normal(size=(37, 784)) * 5).astype(np.float32)
    np.testing.assert_array_equal(
        kernels._counts_from_logits(logits, 65536.0, 1),
        kernels._counts_from_logits(logits, 65536.0, 5),
    )
