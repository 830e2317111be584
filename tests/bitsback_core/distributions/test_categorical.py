"""Tests for the quantized categorical distribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bitsback_core.distributions import Categorical

SHAPES = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)


@st.composite
def categorical_cases(draw):
    """(probs, prec, symbols, u) with rows that have a positive sum."""
    n = draw(st.integers(1, 6))
    prec = draw(st.integers(max(1, (n - 1).bit_length()), 32))
    shape = draw(SHAPES)
    probs = draw(hnp.arrays(np.float64, shape + (n,), elements=st.floats(0.0, 10.0)))
    probs[..., 0] += probs.sum(axis=-1) == 0  # keep every row's sum positive
    symbols = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, n - 1)))
    u = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, exclude_max=True)))
    return probs, prec, symbols, u


@settings(max_examples=150, deadline=None)
@given(case=categorical_cases())
def test_categorical_invariants(check_dist, case):
    probs, prec, symbols, u = case
    dist = Categorical(probs, prec)
    n = probs.shape[-1]
    assert dist.batch_shape == probs.shape[:-1] and dist.num_symbols == n
    check_dist(dist, symbols, u, enumerate_all=True)

    # Frequencies track the normalized probabilities to within n + 2 counts,
    # and an impossible symbol gets exactly one count.
    total = 1 << prec
    p = probs / probs.sum(axis=-1, keepdims=True)
    freqs = dist.freqs
    assert freqs.shape == probs.shape
    np.testing.assert_array_equal(freqs.sum(axis=-1), np.full(dist.batch_shape, total))
    assert np.all(np.abs(freqs - p * total) <= n + 2)
    assert np.all(freqs[probs == 0] == 1)


def test_unnormalized_rows_quantize_like_normalized_ones():
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    a = Categorical(probs, 16)
    b = Categorical(probs * 8.0, 16)  # power-of-two scaling keeps every ratio exact
    np.testing.assert_array_equal(a.starts, b.starts)


def test_alphabet_filling_the_whole_precision():
    dist = Categorical(np.array([[0.97, 0.01, 0.01, 0.01]]), 2)
    np.testing.assert_array_equal(dist.freqs, [[1, 1, 1, 1]])


def test_exact_dyadic_probabilities():
    dist = Categorical(np.array([0.5, 0.25, 0.25]), 10)
    # K = 1021: starts floor(C * K) + k.
    np.testing.assert_array_equal(dist.starts, [0, 510 + 1, 765 + 2, 1024])
    cf = np.array([0, 510, 511, 766, 767, 1023])
    np.testing.assert_array_equal(dist.ppf(cf), [0, 0, 1, 1, 2, 2])


def test_large_alphabet_round_trip():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(256, 0.3), size=(8, 5))
    dist = Categorical(probs, 16)
    symbols = rng.integers(0, 256, size=(8, 5))
    start, freq = dist.cdf(symbols)
    cf = start + rng.integers(0, freq)
    np.testing.assert_array_equal(dist.ppf(cf), symbols)
    np.testing.assert_array_equal(dist.freqs.sum(-1), np.full((8, 5), 1 << 16))


def test_advanced_indexing_selects_rows():
    rng = np.random.default_rng(2)
    probs = rng.random((4, 3, 5))
    dist = Categorical(probs, 12)
    symbols = rng.integers(0, 5, size=(4, 3))
    start, freq = dist.cdf(symbols)
    mask = np.array([True, False, True, True])
    for key in ([0, 2], mask, (slice(None), [2, 0]), ([1, 3], [0, 2])):
        sub = dist[key]
        s_start, s_freq = sub.cdf(symbols[key])
        np.testing.assert_array_equal(s_start, start[key])
        np.testing.assert_array_equal(s_freq, freq[key])
    with pytest.raises(IndexError):
        dist[0, 0, 0]  # the symbol axis is not a batch dimension


@pytest.mark.parametrize("prec", [0, 33])
def test_invalid_precision(prec):
    with pytest.raises(ValueError, match="prec"):
        Categorical(np.array([0.5, 0.5]), prec)


@pytest.mark.parametrize(
    "probs, prec",
    [
        (np.full(5, 0.2), 2),  # more symbols than 2**prec
        (np.array([0.5, -0.1, 0.6]), 8),
        (np.array([0.5, np.nan]), 8),
        (np.array([0.5, np.inf]), 8),
        (np.array([[0.0, 0.0], [0.5, 0.5]]), 8),  # a row with zero mass
        (np.array([1e308, 1e308]), 8),  # the row sum overflows
        (np.array(0.5), 8),  # no symbol axis
        (np.zeros((3, 0)), 8),  # empty alphabet
    ],
)
def test_invalid_probs(probs, prec):
    with pytest.raises(ValueError):
        Categorical(probs, prec)


def test_invalid_symbols_and_cumfreqs():
    dist = Categorical(np.array([[0.2, 0.3, 0.5]]), 8)
    with pytest.raises(ValueError, match="symbols"):
        dist.cdf(np.array([3]))
    with pytest.raises(ValueError, match="cumfreq"):
        dist.ppf(np.array([-1]))
