"""The compiled bucket search returns exactly what the numpy definition of ``start`` gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from bitsback_core.distributions import MaxEntropyBuckets
from bitsback_core.distributions._gaussian_kernels import (
    _special,
    bucket_lookup,
    gaussian_cdf,
    gaussian_ppf_interval,
)
from bitsback_core.distributions.gaussian import monotone_ndtr


def reference_starts(
    mean: np.ndarray, std: np.ndarray, edges: np.ndarray, prec: int, full: bool
) -> np.ndarray:
    """All ``N + 1`` starts of every element, straight from the module's definition, ``(size, N + 1)``."""
    n = edges.shape[0] - 1
    mass = monotone_ndtr((edges[None, :] - mean[:, None]) / std[:, None])
    if full:
        return np.floor(mass * float((1 << prec) - n)).astype(np.int64) + np.arange(n + 1)
    return np.floor(mass * float(1 << prec)).astype(np.int64)


def random_params(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and stds from ordinary to extreme: narrow, wide, far in the tails."""
    mean = rng.normal(size=size) * rng.choice([0.01, 1.0, 4.0, 12.0], size=size)
    std = np.exp(rng.uniform(np.log(1e-7), np.log(1e3), size=size))
    return mean, std


CASES = [
    (16, 8, False),
    (16, 8, True),
    (12, 8, False),
    (32, 8, False),
    (32, 8, True),
    (10, 10, True),
    (20, 4, False),
    (9, 0, False),
]


@pytest.mark.parametrize("prec, log_n, full", CASES)
def test_ppf_interval_matches_a_brute_force_search(prec: int, log_n: int, full: bool) -> None:
    rng = np.random.default_rng(prec * 100 + log_n)
    buckets = MaxEntropyBuckets(log_n)
    size = 4000
    mean, std = random_params(rng, size)
    cf = rng.integers(0, 1 << prec, size=size)
    cf[:8] = [0, 1, (1 << prec) - 1, (1 << prec) - 2, 1 << (prec - 1), 0, (1 << prec) - 1, 7]
    starts = reference_starts(mean, std, buckets.edges, prec, full)
    # Largest i < N with start(i) <= cf.
    expected = np.array(
        [np.searchsorted(row[:-1], c, side="right") - 1 for row, c in zip(starts, cf)]
    )
    sym, start, freq = gaussian_ppf_interval(mean, std, cf, buckets.edges, prec, full)
    np.testing.assert_array_equal(sym, expected)
    rows = np.arange(size)
    np.testing.assert_array_equal(start, starts[rows, expected])
    np.testing.assert_array_equal(freq, starts[rows, expected + 1] - starts[rows, expected])
    assert np.all(freq >= 1) and np.all((start <= cf) & (cf < start + freq))


@pytest.mark.parametrize("prec, log_n, full", CASES)
def test_cdf_matches_the_definition_for_every_index(prec: int, log_n: int, full: bool) -> None:
    rng = np.random.default_rng(prec + 7 * log_n)
    buckets = MaxEntropyBuckets(log_n)
    n = buckets.num_buckets
    mean, std = random_params(rng, 300)
    starts = reference_starts(mean, std, buckets.edges, prec, full)
    index = np.broadcast_to(np.arange(n + 1), (300, n + 1))
    start, freq = gaussian_cdf(mean[:, None], std[:, None], index, buckets.edges, prec, full)
    np.testing.assert_array_equal(start, starts)
    np.testing.assert_array_equal(freq[:, :n], np.diff(starts, axis=1))
    np.testing.assert_array_equal(freq[:, n], 0)
    assert np.all(start[:, 0] == 0) and np.all(start[:, n] == 1 << prec)


def test_shapes_broadcast_and_come_back() -> None:
    buckets = MaxEntropyBuckets(8)
    cf = np.arange(12, dtype=np.int64).reshape(3, 4) * 5000
    sym, start, freq = gaussian_ppf_interval(
        np.zeros((3, 1)), np.ones(4), cf, buckets.edges, 16, False
    )
    assert sym.shape == start.shape == freq.shape == (3, 4)
    # N(0, 1) over the prior's own equal-mass buckets: 256 counts each.
    np.testing.assert_array_equal(sym, cf // 256)
    assert np.all(np.abs(freq - 256) <= 1)  # floor(ndtr(ndtri(i / 256)) * 2**16) may lose a count


def test_lookup_table_names_the_bucket_of_its_points() -> None:
    buckets = MaxEntropyBuckets(8)
    table, lo, scale = bucket_lookup(buckets.edges.tobytes())
    points = lo + np.arange(table.shape[0]) / scale
    np.testing.assert_array_equal(table, buckets.bucket_of(points))
    # Half the narrowest bucket per step: consecutive entries never skip a bucket.
    assert np.all(np.diff(table) <= 1)


def test_a_missing_scipy_export_fails_loudly() -> None:
    with pytest.raises(ImportError, match="no real ndtr"):
        _special(("no_such_function", "ndtr"), scipy.special.ndtr, np.array([0.0]))
    # An export that computes something else is refused too.
    with pytest.raises(ImportError, match="ndtr"):
        _special(("ndtri", "ndtr"), scipy.special.ndtr, np.array([0.25, 0.5]))
