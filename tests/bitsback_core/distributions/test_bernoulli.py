"""Tests for the quantized Bernoulli distribution."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bitsback_core.distributions import Bernoulli

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), prec=st.integers(1, 32), shape=SHAPES)
def test_bernoulli_invariants(check_dist, data, prec, shape):
    probs = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    symbols = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
    u = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0, exclude_max=True)))
    dist = Bernoulli(probs, prec)
    assert dist.batch_shape == shape and dist.num_symbols == 2
    check_dist(dist, symbols, u, enumerate_all=True)


@settings(max_examples=50, deadline=None)
@given(prec=st.integers(1, 32), k=st.integers(0, 2**32))
def test_count_one_is_rounded_and_clipped(prec, k):
    total = 1 << prec
    k = k % (total + 1)
    dist = Bernoulli(np.array([k / total]), prec)  # k / total is exact in float64
    assert dist.count_one[0] == min(max(k, 1), total - 1)
    start, freq = dist.cdf(np.array([1]))
    assert start[0] == total - dist.count_one[0] and freq[0] == dist.count_one[0]


def test_round_half_to_even_is_deterministic():
    # p * 2**prec = 2.5 and 3.5: ties go to the even count, the same on every machine.
    dist = Bernoulli(np.array([2.5 / 16, 3.5 / 16]), 4)
    np.testing.assert_array_equal(dist.count_one, [2, 4])


def test_float32_input_matches_float64_of_same_values():
    rng = np.random.default_rng(0)
    p32 = rng.random((5, 7)).astype(np.float32)
    a = Bernoulli(p32, 24)
    b = Bernoulli(p32.astype(np.float64), 24)
    np.testing.assert_array_equal(a.count_one, b.count_one)
    assert a.count_one.dtype == np.int64


def test_certain_pixels_stay_codable():
    dist = Bernoulli(np.array([0.0, 1.0]), 8)
    np.testing.assert_array_equal(dist.count_one, [1, 255])
    _, freq = dist.cdf(np.array([1, 0]))
    np.testing.assert_array_equal(freq, [1, 1])


def test_precision_one_gives_a_fair_coin():
    dist = Bernoulli(np.array([0.0, 0.3, 1.0]), 1)
    np.testing.assert_array_equal(dist.count_one, [1, 1, 1])
    np.testing.assert_array_equal(dist.ppf(np.array([0, 1, 1])), [0, 1, 1])


def test_symbols_broadcast_against_the_batch():
    dist = Bernoulli(np.full((3, 4), 0.25), 8)
    start, freq = dist.cdf(np.array(1))
    assert start.shape == (3, 4)
    np.testing.assert_array_equal(freq, np.full((3, 4), 64))


@pytest.mark.parametrize("prec", [0, 33, -1, 1.5, True, "8"])
def test_invalid_precision(prec):
    with pytest.raises(ValueError, match="prec"):
        Bernoulli(np.array([0.5]), prec)


@pytest.mark.parametrize("bad", [-0.1, 1.1, np.nan, np.inf])
def test_invalid_probs(bad):
    with pytest.raises(ValueError, match="probs"):
        Bernoulli(np.array([0.5, bad]), 8)


def test_invalid_symbols_and_cumfreqs():
    dist = Bernoulli(np.array([0.5, 0.5]), 8)
    with pytest.raises(ValueError, match="symbols"):
        dist.cdf(np.array([0, 2]))
    with pytest.raises(ValueError, match="symbols"):
        dist.cdf(np.array([-1, 0]))
    with pytest.raises(ValueError, match="integer"):
        dist.cdf(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="broadcast"):
        dist.cdf(np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="cumfreq"):
        dist.ppf(np.array([0, 256]))


def test_from_logits_paths_agree_exactly():
    """Fused row sums (from logits or from counts) equal the elementwise log_prob sums."""
    rng = np.random.default_rng(5)
    logits = (rng.normal(size=(12, 33)) * 6).astype(np.float32)
    x = (rng.random((4, 33)) < 0.4).astype(np.uint8)
    lazy = Bernoulli.from_logits(logits, 16)
    fused = lazy.sum_log2_rows(x, repeat=3)
    counted = Bernoulli.from_logits(logits, 16)
    counted.count_one  # materialize the counts
    np.testing.assert_array_equal(counted.sum_log2_rows(x, repeat=3), fused)
    # sum_log2_rows is the sum of log2(freq), i.e. log2 P + prec per symbol, in 24-bit fixed point.
    reference = (
        counted.log_prob(np.repeat(x, 3, axis=0)).sum(axis=1) / np.log(2.0) + 16 * x.shape[1]
    )
    np.testing.assert_allclose(fused / 2.0**24, reference, rtol=0, atol=1e-4)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_array_equal(counted.count_one, Bernoulli(p, 16).count_one)


def test_from_logits_rejects_non_finite():
    with pytest.raises(ValueError, match="finite"):
        Bernoulli.from_logits(np.array([[0.0, np.nan]]), 12)
