"""Portable coins and particle-index distributions: Bernoulli.from_fixed_logits,
fixed-point ``sum_log2_rows``, and Categorical.from_weights (integer quantization)."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsback_core.distributions import Bernoulli, Categorical
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.portable.formats import LOG2_BITS, LOGIT_BITS, MAX_PORTABLE_PREC
from bitsback_core.portable.kernels import count_one, log2_of, table_args


def random_logits(
    rng: np.random.Generator, shape: tuple[int, ...], scale: float = 8.0
) -> np.ndarray:
    logits = np.round(rng.normal(0, scale, shape) * (1 << LOGIT_BITS)).astype(np.int64)
    flat = logits.reshape(-1)
    if flat.size >= 4:
        flat[:4] = [
            40 << LOGIT_BITS,
            -(40 << LOGIT_BITS),
            0,
            2**45,
        ]  # saturated both ways, even, beyond the table
    return logits


# ------------------------------------------------------------------ counts


@pytest.mark.parametrize("prec", [1, 4, 12, 16, 24, MAX_PORTABLE_PREC])
def test_counts_are_the_scalar_kernel(prec: int) -> None:
    rng = np.random.default_rng(prec)
    logits = random_logits(rng, (5, 37))
    coins = Bernoulli.from_fixed_logits(logits, prec)
    assert coins.batch_shape == (5, 37) and coins.prec == prec
    sig = table_args("sigmoid")
    want = np.array(
        [
            count_one(np.int64(v), np.int64(prec), *sig, np.int64(LOGIT_BITS))
            for v in logits.reshape(-1)
        ]
    ).reshape(logits.shape)
    np.testing.assert_array_equal(coins.count_one, want)
    assert coins.count_one.min() >= 1 and coins.count_one.max() <= (1 << prec) - 1
    # Within one count of the correctly rounded sigmoid (the table's error is far below a
    # count at these precisions, except at 30 bits where it may reach a few counts).
    p = np.array([0.5 * (1 + math.tanh(v / 2.0 ** (LOGIT_BITS + 1))) for v in logits.reshape(-1)])
    exact = np.clip(np.round(p * 2.0**prec), 1, 2**prec - 1).reshape(logits.shape)
    assert np.abs(coins.count_one - exact).max() <= (1 if prec <= 24 else 16)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_any_batch_shape_works_and_slices(
    shape: tuple[int, ...], check_dist: Callable[..., None]
) -> None:
    rng = np.random.default_rng(len(shape))
    logits = random_logits(rng, shape)
    coins = Bernoulli.from_fixed_logits(logits, 12)
    assert coins.batch_shape == shape
    symbols = rng.integers(0, 2, shape)
    check_dist(coins, symbols, rng.random(shape), enumerate_all=True)
    flat = Bernoulli.from_fixed_logits(logits.reshape(1, -1), 12).count_one.reshape(shape)
    np.testing.assert_array_equal(coins.count_one, flat)


def test_fixed_logits_must_be_integers_and_prec_portable() -> None:
    with pytest.raises(TypeError, match="integers"):
        Bernoulli.from_fixed_logits(np.zeros((2, 3)), 12)
    with pytest.raises(ValueError, match="prec"):
        Bernoulli.from_fixed_logits(np.zeros((2, 3), np.int64), MAX_PORTABLE_PREC + 1)
    # Narrow and unsigned integers are widened, not refused.
    small = np.array([[-3, 0, 5]], dtype=np.int16) << 8
    np.testing.assert_array_equal(
        Bernoulli.from_fixed_logits(small, 16).count_one,
        Bernoulli.from_fixed_logits(small.astype(np.int64), 16).count_one,
    )
    np.testing.assert_array_equal(
        Bernoulli.from_fixed_logits(np.array([[7]], np.uint32), 16).count_one,
        Bernoulli.from_fixed_logits(np.array([[7]], np.int64), 16).count_one,
    )


def _accumulator(rng: np.random.Generator, shape: tuple[int, int], shift: int) -> np.ndarray:
    """Exact-integer float64 accumulators below ``2**52``, with values on the rounding
    boundaries of a ``shift``-bit rescale (``k * 2**shift + 2**(shift - 1)`` and one below)."""
    acc = rng.integers(-(2**52) + 1, 2**52, shape)
    acc[0, : shape[1] // 2] = (
        rng.integers(-(40 << LOGIT_BITS), 40 << LOGIT_BITS, shape[1] // 2) << shift
    )
    if shift > 0:
        acc[1, :4] = [(-5 << shift) + (1 << (shift - 1)), (-5 << shift) + (1 << (shift - 1)) - 1,
                      (7 << shift) + (1 << (shift - 1)), (7 << shift) + (1 << (shift - 1)) - 1]  # fmt: skip
    return acc.astype(np.float64)


@pytest.mark.parametrize("shift", [0, 1, 17, 40])
def test_accumulator_coins_are_the_coins_of_the_rescaled_logits(shift: int) -> None:
    """``from_fixed_accumulator`` rounds each logit as the network's rescale does (half up)."""
    rng = np.random.default_rng(shift)
    acc = _accumulator(rng, (6, 40), shift)
    a = acc.astype(np.int64)
    logits = (a + ((1 << shift) >> 1)) >> shift if shift else a
    x = rng.integers(0, 2, (3, 40)).astype(np.uint8)
    for prec in (8, 16):
        coins = Bernoulli.from_fixed_accumulator(acc, shift, prec)
        want = Bernoulli.from_fixed_logits(logits, prec)
        assert coins.batch_shape == (6, 40)
        np.testing.assert_array_equal(coins.sum_log2_rows(x, 2), want.sum_log2_rows(x, 2))
        np.testing.assert_array_equal(coins.count_one, want.count_one)
        np.testing.assert_array_equal(coins.sum_log2_rows(x, 2), want.sum_log2_rows(x, 2))


def test_accumulators_must_be_2d_float64_with_a_valid_shift() -> None:
    with pytest.raises(TypeError, match="2-D float64"):
        Bernoulli.from_fixed_accumulator(np.zeros((2, 3), np.int64), 4, 16)
    with pytest.raises(TypeError, match="2-D float64"):
        Bernoulli.from_fixed_accumulator(np.zeros(3), 4, 16)
    with pytest.raises(ValueError, match="shift"):
        Bernoulli.from_fixed_accumulator(np.zeros((2, 3)), 63, 16)
    with pytest.raises(ValueError, match="prec"):
        Bernoulli.from_fixed_accumulator(np.zeros((2, 3)), 4, MAX_PORTABLE_PREC + 1)


# ------------------------------------------------------------------ sum_log2_rows


def _three_ways(
    logits: np.ndarray, x: np.ndarray, repeat: int, prec: int
) -> tuple[np.ndarray, ...]:
    fused = Bernoulli.from_fixed_logits(logits, prec).sum_log2_rows(
        x, repeat
    )  # straight from logits
    counts = Bernoulli.from_fixed_logits(logits, prec).count_one
    from_counts = Bernoulli.from_counts(counts, prec).sum_log2_rows(x, repeat)
    default = QuantizedDistribution.sum_log2_rows(
        Bernoulli.from_counts(counts, prec), x, repeat
    )  # via cdf
    return fused, from_counts, default


@pytest.mark.parametrize("repeat", [1, 3])
@pytest.mark.parametrize("prec", [1, 8, 16, 24])
def test_sum_log2_rows_agree_exactly_three_ways(repeat: int, prec: int) -> None:
    rng = np.random.default_rng(prec * 10 + repeat)
    rows, cols = 4, 60
    logits = random_logits(rng, (rows * repeat, cols))
    x = rng.integers(0, 2, (rows, cols)).astype(np.uint8)
    fused, from_counts, default = _three_ways(logits, x, repeat, prec)
    assert fused.dtype == np.int64 and fused.shape == (rows * repeat,)
    np.testing.assert_array_equal(fused, from_counts)
    np.testing.assert_array_equal(fused, default)
    # And it is log2 of the coded frequencies: within cols * 2**-20 of the float sum.
    c1 = Bernoulli.from_fixed_logits(logits, prec).count_one
    freq = np.where(np.repeat(x, repeat, 0) == 1, c1, (1 << prec) - c1)
    np.testing.assert_allclose(
        fused / 2.0**LOG2_BITS, np.log2(freq).sum(-1), rtol=0, atol=cols * 2.0**-20
    )


def test_sum_log2_rows_above_the_table_precision_uses_the_default() -> None:
    rng = np.random.default_rng(1)
    logits = random_logits(rng, (6, 30))
    x = rng.integers(0, 2, (2, 30))
    coins = Bernoulli.from_fixed_logits(logits, 28)
    got = coins.sum_log2_rows(x, repeat=3)
    _, freq = coins.cdf(np.repeat(x, 3, 0))
    np.testing.assert_array_equal(got, log2_of(freq).sum(-1))


def test_sum_log2_rows_is_the_same_after_counts_are_computed() -> None:
    rng = np.random.default_rng(2)
    logits = random_logits(rng, (6, 20))
    x = rng.integers(0, 2, (3, 20))
    coins = Bernoulli.from_fixed_logits(logits, 16)
    before = coins.sum_log2_rows(x, repeat=2)
    _ = coins.count_one  # switches to the count path
    np.testing.assert_array_equal(coins.sum_log2_rows(x, repeat=2), before)


def test_sum_log2_rows_refuses_bad_symbols() -> None:
    coins = Bernoulli.from_fixed_logits(np.zeros((4, 5), np.int64), 16)
    with pytest.raises(ValueError, match="do not match"):
        coins.sum_log2_rows(np.zeros((3, 5), np.uint8), repeat=1)
    with pytest.raises(ValueError, match="do not match"):
        coins.sum_log2_rows(np.zeros((2, 4), np.uint8), repeat=2)
    with pytest.raises(ValueError, match="0 or 1"):
        coins.sum_log2_rows(np.full((4, 5), 2), repeat=1)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 40),
    repeat=st.integers(1, 4),
    prec=st.integers(1, 24),
    scale=st.sampled_from([0.5, 4.0, 50.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_log2_rows_agree_on_random_batches(rows, cols, repeat, prec, scale, seed):  # noqa: ANN001
    rng = np.random.default_rng(seed)
    logits = random_logits(rng, (rows * repeat, cols), scale)
    x = rng.integers(0, 2, (rows, cols))
    fused, from_counts, default = _three_ways(logits, x, repeat, prec)
    np.testing.assert_array_equal(fused, from_counts)
    np.testing.assert_array_equal(fused, default)


# ------------------------------------------------------------------ Categorical.from_weights


def _exact_starts(w: np.ndarray, prec: int) -> np.ndarray:
    """``floor(W_k * (T - n) / W) + k`` in Python integers."""
    n, total = w.shape[-1], 1 << prec
    out = np.empty(w.shape[:-1] + (n + 1,), dtype=np.int64)
    for idx in np.ndindex(w.shape[:-1]):
        row = [int(v) for v in w[idx]]
        whole, acc = sum(row), 0
        for k in range(n):
            out[idx + (k,)] = acc * (total - n) // whole + k if k else 0
            acc += row[k]
        out[idx + (n,)] = total
    return out


@pytest.mark.parametrize("prec", [4, 8, 16, 30])
def test_from_weights_starts_are_exact(prec: int) -> None:
    rng = np.random.default_rng(prec)
    n = 9
    w = rng.integers(0, 1 << 30, (3, 2, n))
    w[0, 0, 3] = 0
    w[1, 1] = 0
    w[1, 1, 4] = 1 << 30  # one particle carries everything
    w[2, 0, :] = 5  # all equal
    cat = Categorical.from_weights(w, prec)
    assert cat.batch_shape == (3, 2) and cat.num_symbols == n and cat.prec == prec
    np.testing.assert_array_equal(cat.starts, _exact_starts(w, prec))
    freqs = cat.freqs
    assert np.all(freqs >= 1) and np.all(freqs.sum(-1) == 1 << prec)
    # Proportional within one count: (freq - 1) is the share of T - n, floored at both ends.
    total = (1 << prec) - n
    for idx in np.ndindex(w.shape[:-1]):
        row_sum = int(w[idx].sum())
        for k in range(n):
            share = Fraction(int(w[idx + (k,)]) * total, row_sum)
            assert abs(int(freqs[idx + (k,)]) - 1 - share) < 1
    assert freqs[0, 0, 3] == 1  # a zero weight keeps exactly one count
    np.testing.assert_array_equal(np.delete(freqs[1, 1], 4), 1)


def test_from_weights_close_to_the_float_quantization(check_dist: Callable[..., None]) -> None:
    rng = np.random.default_rng(3)
    w = rng.integers(1, 1 << 30, (4, 1, 12))
    cat = Categorical.from_weights(w, 16)
    ref = Categorical(w.astype(np.float64), 16)
    assert np.abs(cat.starts - ref.starts).max() <= 1
    symbols = cat.ppf(rng.integers(0, 1 << 16, (4, 1)))
    check_dist(cat, symbols, rng.random((4, 1)), enumerate_all=True)
    # The coders pop particle indices with the row program.
    program = cat.row_program()
    assert program is not None


def test_from_weights_is_exact_for_large_weights() -> None:
    """Weights near the int64 limit of ``W * (T - n)``: still floor-exact, and just above it refused."""
    w = np.array([[2**40 + 1, 2**40 + 3, 2**40, 7]], dtype=np.int64)
    cat = Categorical.from_weights(w, 20)
    np.testing.assert_array_equal(cat.starts, _exact_starts(w, 20))
    assert int(w.sum()) * ((1 << 20) - 4) < 2**63
    with pytest.raises(ValueError, match="too large"):
        Categorical.from_weights(w * 4, 22)


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        (np.array([[1.0, 2.0]]), ValueError, "integer"),
        (np.array([[1, -2, 3]]), ValueError, "non-negative"),
        (np.array([[0, 0, 0]]), ValueError, "positive sum"),
        (np.array([[1, 2], [0, 0]]), ValueError, "positive sum"),
        (np.array([], dtype=np.int64), ValueError, "integer"),
        (np.array([[2**62, 2**62 - 1]]), ValueError, "too large"),
        (np.ones((1, 300), dtype=np.int64), ValueError, "2\\*\\*prec"),
    ],
)
def test_from_weights_refuses_bad_weights(
    weights: np.ndarray, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        Categorical.from_weights(weights, 8)


def test_from_weights_refuses_weights_whose_sum_overflows() -> None:
    w = np.array([[2**62, 2**62, 2**62, 2**62, 1]], dtype=np.int64)  # the int64 sum wraps to 1
    with pytest.raises(ValueError):
        Categorical.from_weights(w, 16)
