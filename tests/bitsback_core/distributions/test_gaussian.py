"""Tests for the max-entropy buckets and the lazily discretized Gaussian."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import ndtr

from bitsback_core.distributions import DiscretizedGaussian, MaxEntropyBuckets
from bitsback_core.distributions.gaussian import monotone_ndtr


def full_gaussian(*args, **kwargs):
    """The every-bucket-codable variant (most invariants here are about it)."""
    return DiscretizedGaussian(*args, full_support=True, **kwargs)


SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)


@lru_cache(maxsize=None)
def buckets(log_num_bucket: int) -> MaxEntropyBuckets:
    return MaxEntropyBuckets(log_num_bucket)


# ---------------------------------------------------------------- buckets


@pytest.mark.parametrize("b", [0, 1, 3, 10])
def test_buckets_have_equal_mass(b):
    bk = buckets(b)
    n = 1 << b
    assert bk.num_buckets == n and bk.log_num_bucket == b
    assert bk.edges.shape == (n + 1,) and bk.centres.shape == (n,)
    assert bk.edges[0] == -np.inf and bk.edges[-1] == np.inf
    assert np.all(np.diff(bk.edges) > 0)
    np.testing.assert_allclose(ndtr(bk.edges), np.arange(n + 1) / n, atol=1e-14)
    np.testing.assert_allclose(ndtr(bk.centres), (np.arange(n) + 0.5) / n, atol=1e-14)
    np.testing.assert_allclose(bk.centres, -bk.centres[::-1], atol=1e-12)
    np.testing.assert_array_equal(bk.bucket_of(bk.centres), np.arange(n))
    np.testing.assert_array_equal(bk.bucket_of(bk.edges[:-1]), np.arange(n))  # [e_i, e_i+1)
    np.testing.assert_array_equal(bk.bucket_of(np.array([-np.inf, np.inf])), [0, n - 1])


def test_buckets_are_cached_read_only_and_comparable():
    bk = MaxEntropyBuckets(4)
    with pytest.raises(ValueError):
        bk.edges[1] = 0.0
    assert bk == MaxEntropyBuckets(4) and bk != MaxEntropyBuckets(5)
    assert hash(bk) == hash(MaxEntropyBuckets(4))
    assert bk.edges.dtype == np.float64 and bk.centres.dtype == np.float64


@pytest.mark.parametrize("b", [-1, 25, 2.0, True])
def test_invalid_bucket_count(b):
    with pytest.raises(ValueError, match="log_num_bucket"):
        MaxEntropyBuckets(b)


def test_bucket_of_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        buckets(3).bucket_of(np.array([0.0, np.nan]))


# ------------------------------------------------------ the monotone CDF


@pytest.mark.parametrize("centre", [0.0, 0.5, -0.5, 1.0, -1.0, np.sqrt(2), -np.sqrt(2), 8.0, -8.0])
def test_monotone_ndtr_never_decreases_across_consecutive_floats(centre):
    # scipy's ndtr itself wiggles by an ulp or two around these points; the gridded one
    # must not, or a very wide posterior could get a bucket with frequency zero.
    ulp = np.spacing(max(abs(centre), 1e-300))
    z = np.sort(centre + np.arange(-20000, 20001) * ulp)
    assert np.all(np.diff(monotone_ndtr(z)) >= 0)
    grid = np.round(centre * 2.0**40) + np.arange(-20000, 20001)
    assert np.all(np.diff(monotone_ndtr(grid * 2.0**-40)) >= 0)


def test_monotone_ndtr_is_close_to_ndtr():
    z = np.random.default_rng(0).normal(scale=5.0, size=100_000)
    np.testing.assert_allclose(monotone_ndtr(z), ndtr(z), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(monotone_ndtr(np.array([-np.inf, np.inf])), [0.0, 1.0])


# -------------------------------------------------- discretized Gaussian


@st.composite
def gaussian_cases(draw):
    b = draw(st.integers(0, 16))
    prec = draw(st.integers(max(b, 1), 32))
    shape = draw(SHAPES)
    mean = draw(hnp.arrays(np.float64, shape, elements=st.floats(-30.0, 30.0)))
    log_std = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10.0, 14.0)))
    n = 1 << b
    symbols = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n - 1)))
    u = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, exclude_max=True)))
    pairs = draw(hnp.arrays(np.int64, (2, 16), elements=st.integers(0, n)))
    return b, prec, mean, 10.0**log_std, symbols, u, pairs


@settings(max_examples=150, deadline=None)
@given(case=gaussian_cases())
def test_gaussian_invariants(check_dist, case):
    b, prec, mean, std, symbols, u, pairs = case
    dist = full_gaussian(mean, std, buckets(b), prec)
    n, total = 1 << b, 1 << prec
    assert dist.batch_shape == mean.shape and dist.num_symbols == n
    check_dist(dist, symbols, u, enumerate_all=b <= 4)

    # The table spans [0, 2**prec) and start increases strictly with the index.
    np.testing.assert_array_equal(dist.start(np.zeros(mean.shape, np.int64)), 0)
    np.testing.assert_array_equal(dist.start(np.full(mean.shape, n)), total)
    lo, hi = np.sort(pairs, axis=0).reshape((2, 16) + (1,) * mean.ndim)
    x, y = dist.start(lo), dist.start(hi)  # shape (16, *batch)
    assert x.shape == (16,) + mean.shape
    assert np.all(np.where(lo == hi, x == y, x < y))
    assert np.all(dist.start(np.minimum(lo + 1, n)) - dist.start(np.minimum(lo, n - 1)) >= 1)


@pytest.mark.parametrize("b", [1, 6, 10])
@pytest.mark.parametrize("prec", [16, 24, 32])
def test_bucket_mass_matches_the_gaussian(b, prec):
    mean = np.array([0.0, 1.3, -2.7, 0.01, 6.0])
    std = np.array([1.0, 0.2, 3.0, 1e-3, 0.5])
    dist = full_gaussian(mean[:, None], std[:, None], buckets(b), prec)
    n, total = 1 << b, 1 << prec
    idx = np.arange(n + 1)
    starts = dist.start(idx)
    assert starts.shape == (5, n + 1)
    freq = np.diff(starts, axis=1)
    assert np.all(freq >= 1) and np.all(starts[:, -1] == total)
    true_mass = np.diff(ndtr((buckets(b).edges - mean[:, None]) / std[:, None]), axis=1)
    assert np.all(np.abs(freq / total - true_mass) <= n / total + 1e-12)


@pytest.mark.parametrize("std", [1e-12, 1e13])
def test_extreme_widths_keep_every_bucket_codable(std):
    b, prec = 12, 32
    mean = np.linspace(-3.0, 3.0, 7) * (std if std > 1 else 1.0)
    dist = full_gaussian(mean[:, None], np.full((7, 1), std), buckets(b), prec)
    starts = dist.start(np.arange((1 << b) + 1))
    assert np.all(np.diff(starts, axis=1) >= 1)
    assert np.all(starts[:, 0] == 0) and np.all(starts[:, -1] == 1 << prec)


def test_large_lazy_batch_round_trips():
    # 2**16 buckets at prec 24 on 25k elements: a dense table would need 13 GB.
    rng = np.random.default_rng(3)
    shape = (32, 784)
    mean = rng.normal(size=shape)
    std = np.exp(rng.normal(scale=0.5, size=shape) - 1.0)
    dist = full_gaussian(mean.astype(np.float32), std.astype(np.float32), buckets(16), 24)
    symbols = buckets(16).bucket_of(mean + std * rng.normal(size=shape))
    start, freq = dist.cdf(symbols)
    assert np.all(freq >= 1)
    cf = start + rng.integers(0, freq)
    np.testing.assert_array_equal(dist.ppf(cf), symbols)
    # A lane-step slice decodes the same symbols.
    np.testing.assert_array_equal(dist[:, 100:164].ppf(cf[:, 100:164]), symbols[:, 100:164])


def test_mean_and_std_broadcast_together():
    dist = full_gaussian(np.zeros((3, 1)), np.ones(4), buckets(3), 8)
    assert dist.batch_shape == (3, 4)
    assert dist.mean.shape == dist.std.shape == (3, 4)


def test_one_bucket_takes_all_the_mass():
    dist = full_gaussian(np.array([0.3]), np.array([2.0]), buckets(0), 5)
    start, freq = dist.cdf(np.array([0]))
    assert start[0] == 0 and freq[0] == 32
    np.testing.assert_array_equal(dist.ppf(np.array([31])), [0])


@pytest.mark.parametrize(
    "mean, std, b, prec",
    [
        (0.0, 0.0, 3, 8),
        (0.0, -1.0, 3, 8),
        (0.0, np.nan, 3, 8),
        (0.0, np.inf, 3, 8),
        (np.nan, 1.0, 3, 8),
        (np.inf, 1.0, 3, 8),
        (0.0, 1.0, 8, 7),  # 256 buckets cannot fit in 2**7
        (0.0, 1.0, 3, 0),
        (0.0, 1.0, 3, 33),
        (np.zeros(3), np.ones(2), 1, 8),
    ],
)
def test_invalid_arguments(mean, std, b, prec):
    with pytest.raises(ValueError):
        full_gaussian(np.asarray(mean), np.asarray(std), buckets(b), prec)


def test_wrong_bucket_type():
    with pytest.raises(TypeError, match="MaxEntropyBuckets"):
        full_gaussian(np.zeros(2), np.ones(2), 8, 16)  # type: ignore[arg-type]


def test_invalid_symbols_and_cumfreqs():
    dist = full_gaussian(np.zeros(2), np.ones(2), buckets(3), 8)
    with pytest.raises(ValueError, match="symbols"):
        dist.cdf(np.array([0, 8]))
    with pytest.raises(ValueError, match="cumfreq"):
        dist.ppf(np.array([0, 256]))
    with pytest.raises(ValueError, match="index"):
        dist.start(np.array([0, 9]))


@settings(max_examples=100, deadline=None)
@given(case=gaussian_cases())
def test_restricted_support_never_yields_an_empty_bucket(check_dist, case):
    """The coders' default: tails under one count are cut, and ppf never lands there."""
    b, prec, mean, std, symbols, u, pairs = case
    dist = DiscretizedGaussian(mean, std, buckets(b), prec)
    n, total = 1 << b, 1 << prec
    np.testing.assert_array_equal(dist.start(np.zeros(mean.shape, np.int64)), 0)
    np.testing.assert_array_equal(dist.start(np.full(mean.shape, n)), total)
    cf = np.floor(u * total).astype(np.int64)
    drawn = dist.ppf(cf)
    start, freq = dist.cdf(drawn)
    assert np.all(freq >= 1)
    assert np.all((start <= cf) & (cf < start + freq))
    lo, hi = np.sort(pairs, axis=0).reshape((2, 16) + (1,) * mean.ndim)
    assert np.all(dist.start(lo) <= dist.start(hi))


def test_restricted_support_follows_the_gaussian_mass():
    mean, std = np.array([[0.3]]), np.array([[0.01]])
    dist = DiscretizedGaussian(mean, std, buckets(8), 16)
    freq = np.diff(dist.start(np.arange(257)), axis=1)[0]
    true_mass = np.diff(ndtr((buckets(8).edges - 0.3) / 0.01))
    assert freq.sum() == 1 << 16
    assert np.all(np.abs(freq / 2**16 - true_mass) <= 2.0**-16)
    # Far tails get nothing at all, unlike full support's one count each.
    assert (freq == 0).sum() > 200
    assert np.all(np.diff(full_gaussian(mean, std, buckets(8), 16).start(np.arange(257))) >= 1)


@pytest.mark.parametrize("full_support", [False, True])
def test_ppf_interval_matches_ppf_then_cdf(full_support):
    rng = np.random.default_rng(11)
    mean, std = rng.normal(size=(40, 7)) * 2, np.exp(rng.normal(size=(40, 7)) - 1.5)
    dist = DiscretizedGaussian(mean, std, buckets(8), 16, full_support=full_support)
    cf = rng.integers(0, 1 << 16, size=(40, 7))
    sym, start, freq = dist.ppf_interval(cf)
    expected_start, expected_freq = dist.cdf(sym)
    np.testing.assert_array_equal(sym, dist.ppf(cf))
    np.testing.assert_array_equal(start, expected_start)
    np.testing.assert_array_equal(freq, expected_freq)
    assert np.all((start <= cf) & (cf < start + freq))
