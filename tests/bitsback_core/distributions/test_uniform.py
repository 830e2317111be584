"""Tests for the uniform distribution and the shared validation helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bitsback_core.distributions import Uniform
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, sub_batch_shape

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def uniform_cases(draw):
    prec = draw(st.integers(1, 32))
    small = draw(st.booleans())
    n = draw(st.integers(1, min(1 << prec, 40) if small else 1 << prec))
    shape = draw(SHAPES)
    symbols = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n - 1)))
    u = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, exclude_max=True)))
    return n, prec, symbols, u


@settings(max_examples=150, deadline=None)
@given(case=uniform_cases())
def test_uniform_invariants(check_dist, case):
    n, prec, symbols, u = case
    dist = Uniform(n, prec, symbols.shape)
    assert dist.num_symbols == n and dist.batch_shape == symbols.shape
    check_dist(dist, symbols, u, enumerate_all=n <= 40)

    # Closed form: widths differ by at most one and the last interval ends at 2**prec.
    total = 1 << prec
    start, freq = dist.cdf(symbols)
    assert np.all((freq == total // n) | (freq == total // n + 1))
    last_start, last_freq = Uniform(n, prec).cdf(np.array(n - 1))
    assert last_start + last_freq == total
    first_start, _ = Uniform(n, prec).cdf(np.array(0))
    assert first_start == 0


@settings(max_examples=30, deadline=None)
@given(prec=st.integers(1, 7), data=st.data())
def test_uniform_ppf_is_exhaustively_consistent(prec, data):
    n = data.draw(st.integers(1, 1 << prec))
    dist = Uniform(n, prec)
    cf = np.arange(1 << prec)
    sym = dist.ppf(cf)
    start, freq = dist.cdf(sym)
    assert np.all((start <= cf) & (cf < start + freq))
    np.testing.assert_array_equal(np.bincount(sym, minlength=n), dist.cdf(np.arange(n))[1])


def test_power_of_two_alphabet_is_exactly_uniform():
    dist = Uniform(8, 12, (2, 3))
    _, freq = dist.cdf(np.arange(8)[:, None, None])  # broadcasts to (8, 2, 3)
    assert freq.shape == (8, 2, 3)
    assert np.all(freq == 512)


def test_non_power_of_two_example():
    dist = Uniform(3, 3)  # 8 = 3 + 3 + 2
    start, freq = dist.cdf(np.arange(3))
    np.testing.assert_array_equal(start, [0, 3, 6])
    np.testing.assert_array_equal(freq, [3, 3, 2])
    np.testing.assert_array_equal(dist.ppf(np.arange(8)), [0, 0, 0, 1, 1, 1, 2, 2])


def test_slicing_changes_only_the_batch_shape():
    dist = Uniform(10, 16, (4, 5))
    assert dist[1:3].batch_shape == (2, 5)
    assert dist[..., 0].batch_shape == (4,)
    assert dist[None, 0].batch_shape == (1, 5)
    with pytest.raises(IndexError):
        dist[0, 0, 0]


@pytest.mark.parametrize(
    "num_symbols, prec, batch_shape",
    [(0, 8, ()), (257, 8, ()), (2, 0, ()), (2, 33, ()), (2.0, 8, ()), (2, 8, (-1,)), (2, 8, 3)],
)
def test_invalid_arguments(num_symbols, prec, batch_shape):
    with pytest.raises(ValueError):
        Uniform(num_symbols, prec, batch_shape)


def test_invalid_symbols_and_cumfreqs():
    dist = Uniform(5, 4, (2,))
    with pytest.raises(ValueError, match="symbols"):
        dist.cdf(np.array([0, 5]))
    with pytest.raises(ValueError, match="cumfreq"):
        dist.ppf(np.array([0, 16]))


def test_helpers():
    out = as_index_array(np.array([1, 2], dtype=np.uint8), "symbols", 3, (4, 2))
    assert out.dtype == np.int64 and out.shape == (4, 2)
    assert sub_batch_shape((3, 4), (slice(1, None), None)) == (2, 1, 4)


@pytest.mark.parametrize(
    "num_symbols, prec, batch_shape, repeat",
    [
        (256, 8, (6, 5), 2),
        (50, 16, (4, 1), 1),
        (7, 5, (9, 3, 4), 3),
        (3, 30, (2, 10), 1),
        (1, 1, (3, 2), 1),
    ],
)
def test_counted_row_sums_equal_the_per_symbol_sums(num_symbols, prec, batch_shape, repeat):
    """Uniform's counted ``sum_log2_rows`` gives the interface's integers (a frequency each)."""
    u = Uniform(num_symbols, prec, batch_shape)
    rng = np.random.default_rng(num_symbols)
    symbols = rng.integers(0, num_symbols, (batch_shape[0] // repeat, *batch_shape[1:]))
    want = QuantizedDistribution.sum_log2_rows(u, symbols, repeat)
    got = u.sum_log2_rows(symbols, repeat)
    assert got.shape == want.shape and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    symbols.flat[0] = num_symbols
    with pytest.raises(ValueError, match="symbols must lie"):
        u.sum_log2_rows(symbols, repeat)
