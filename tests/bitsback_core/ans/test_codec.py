"""Whole vectors over the lanes of a message: layout, offsets, masks, swaps."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsback_core.ans.codec import LaneView, lane_offset
from bitsback_core.ans.message import Message
from bitsback_core.distributions import (
    Bernoulli,
    Categorical,
    DiscretizedGaussian,
    MaxEntropyBuckets,
    Uniform,
)
from bitsback_core.distributions.interface import QuantizedDistribution


def categorical(
    rng: np.random.Generator, chains: int, n: int, symbols: int = 5, prec: int = 12
) -> Categorical:
    probs = rng.dirichlet(np.ones(symbols), size=(chains, n))
    return Categorical(probs, prec)


@pytest.mark.parametrize("lanes", [1, 2, 3, 8, 16, 32, 64, 100])
def test_lane_offsets_visit_every_offset_once_per_cycle(lanes: int) -> None:
    offsets = [lane_offset(step, lanes) for step in range(lanes)]
    assert sorted(offsets) == list(range(lanes))
    assert [lane_offset(step + lanes, lanes) for step in range(lanes)] == offsets


@settings(max_examples=40, deadline=None)
@given(
    chains=st.integers(1, 4),
    lanes=st.integers(1, 9),
    n=st.integers(1, 30),
    offset=st.integers(0, 40),
    seed=st.integers(0, 2**32),
)
def test_push_then_pop_returns_the_vector_and_the_message(chains, lanes, n, offset, seed):
    rng = np.random.default_rng(seed)
    msg = Message((chains, lanes), seed=seed)
    # Some words on the stacks first, so pops never need initial bits.
    LaneView(msg).push(
        Uniform(7, 8, (chains, 3 * lanes)), rng.integers(0, 7, size=(chains, 3 * lanes))
    )
    before = msg.copy()
    dist = categorical(rng, chains, n)
    symbols = rng.integers(0, 5, size=(chains, n))
    LaneView(msg, offset).push(dist, symbols)
    got, start, freq = LaneView(msg, offset).pop_intervals(dist)
    np.testing.assert_array_equal(got, symbols)
    expected_start, expected_freq = dist.cdf(symbols)
    np.testing.assert_array_equal(start, expected_start)
    np.testing.assert_array_equal(freq, expected_freq)
    assert msg.equals(before)


def test_a_vector_fills_rows_of_lanes() -> None:
    """n symbols over K lanes grow each lane by about n / K symbols' worth, not one lane by n."""
    msg = Message((1, 4), seed=1)
    LaneView(msg).push(Uniform(1 << 16, 16, (1, 64)), np.arange(64)[None, :])
    # 16 bits x 64 symbols = 1,024 bits: 256 per lane, i.e. 8 words (bprec 32) each.
    assert np.all(np.abs(msg._len - 8) <= 1)


def test_inactive_chains_are_left_alone() -> None:
    rng = np.random.default_rng(0)
    msg = Message((3, 4), seed=2)
    before = msg.copy()
    active = np.array([True, False, True])
    dist = categorical(rng, 3, 10)
    symbols = rng.integers(0, 5, size=(3, 10))
    LaneView(msg, 2, active).push(dist, symbols)
    np.testing.assert_array_equal(msg.head[1], before.head[1])
    assert msg._len.reshape(3, 4)[1].sum() == 0
    popped = LaneView(msg, 2, active).pop(dist)
    np.testing.assert_array_equal(popped[active], symbols[active])
    assert msg.equals(before)


def test_swap_in_reverse_undoes_the_swap() -> None:
    rng = np.random.default_rng(4)
    chains, lanes, n = 2, 3, 11
    msg = Message((chains, lanes), seed=3)
    LaneView(msg).push(Uniform(5, 8, (chains, 4 * n)), rng.integers(0, 5, size=(chains, 4 * n)))
    before = msg.copy()
    p, q = categorical(rng, chains, n), categorical(rng, chains, n)
    c = rng.integers(0, 5, size=(chains, n))
    z = LaneView(msg, 5).swap(p, c, q)
    back = LaneView(msg, 5).swap(q, z, p, reverse=True)
    np.testing.assert_array_equal(back, c)
    assert msg.equals(before)


def test_lane_view_uses_the_step_offset() -> None:
    rng = np.random.default_rng(5)
    msg = Message((2, 8), seed=4)
    dist = categorical(rng, 2, 13)
    symbols = rng.integers(0, 5, size=(2, 13))
    LaneView.for_step(msg, 3).push(dist, symbols)
    np.testing.assert_array_equal(LaneView(msg, lane_offset(3, 8)).pop(dist), symbols)


def test_shape_mismatches_are_refused() -> None:
    msg = Message((2, 4))
    with pytest.raises(ValueError, match="chains=2"):
        LaneView(msg).push(Uniform(4, 8, (3, 5)), np.zeros((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="chains=2"):
        LaneView(msg).push(Uniform(4, 8, (2, 5)), np.zeros((2, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="chains=2"):
        LaneView(msg).pop(Uniform(4, 8, (5,)))
    with pytest.raises(ValueError, match="differ in length"):
        LaneView(msg).swap(
            Uniform(4, 8, (2, 5)), np.zeros((2, 5), dtype=np.int64), Uniform(4, 8, (2, 6))
        )


class NumpyOnly(QuantizedDistribution):
    """Wraps a distribution and hides its row program: the codec's per-row numpy path."""

    def __init__(self, inner: QuantizedDistribution) -> None:
        self.inner, self.prec = inner, inner.prec

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.inner.batch_shape

    @property
    def num_symbols(self) -> int:
        return self.inner.num_symbols

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.cdf(symbols)

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        return self.inner.ppf(cumfreq)

    def ppf_interval(self, cumfreq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.inner.ppf_interval(cumfreq)

    def __getitem__(self, key: object) -> NumpyOnly:
        return NumpyOnly(self.inner[key])


def distributions(rng: np.random.Generator, chains: int, n: int) -> list[QuantizedDistribution]:
    return [
        categorical(rng, chains, n, symbols=6, prec=14),
        Uniform(50, 16, (chains, n)),
        Uniform(256, 8, (chains, n)),
        Bernoulli.from_logits(rng.normal(size=(chains, n)) * 4, 12),
        DiscretizedGaussian(
            rng.normal(size=(chains, n)),
            np.exp(rng.normal(size=(chains, n)) - 1),
            MaxEntropyBuckets(8),
            16,
        ),
    ]


@settings(max_examples=30, deadline=None)
@given(
    precs=st.sampled_from([(32, 32), (16, 8), (8, 1)]),
    chains=st.integers(1, 3),
    lanes=st.integers(1, 7),
    n=st.integers(1, 25),
    offset=st.integers(0, 30),
    seed=st.integers(0, 2**32),
)
def test_compiled_rows_match_the_numpy_rows(precs, chains, lanes, n, offset, seed):
    """Pops and swaps from a message that starts empty (so words are drawn), some chains inactive."""
    lprec, bprec = precs
    rng = np.random.default_rng(seed)
    fast = Message((chains, lanes), lprec=lprec, bprec=bprec, seed=seed)
    slow = fast.copy()
    active = rng.random(chains) < 0.7
    for dist in distributions(rng, chains, n):
        if dist.prec > lprec:
            continue
        got = LaneView(fast, offset, active).pop_intervals(dist)
        want = LaneView(slow, offset, active).pop_intervals(NumpyOnly(dist))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        symbols = np.where(active[:, None], got[0], 0)
        others = [d for d in distributions(rng, chains, n) if d.prec <= lprec]
        other = others[int(rng.integers(len(others)))]
        reverse = bool(rng.random() < 0.5)
        swapped = LaneView(fast, offset, active).swap(dist, symbols, other, reverse=reverse)
        np.testing.assert_array_equal(
            swapped,
            LaneView(slow, offset, active).swap(dist, symbols, NumpyOnly(other), reverse=reverse),
        )
        assert fast.equals(slow)
        np.testing.assert_array_equal(fast._drawn, slow._drawn)


@numba.njit
def _coin_ppf(params, c, j, cf):  # pragma: no cover - compiled
    zero = params[0][c, j]
    if cf < zero:
        return np.int64(0), np.int64(0), zero
    return np.int64(1), zero, params[1] - zero


class ThirdPartyCoin(QuantizedDistribution):
    """A plugin-style distribution with its own row program (not one of the built-in kernels)."""

    def __init__(self, zero: np.ndarray, prec: int) -> None:
        self.zero, self.prec = zero, prec

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.zero.shape

    @property
    def num_symbols(self) -> int:
        return 2

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = 1 << self.prec
        return np.where(symbols == 0, 0, self.zero), np.where(
            symbols == 0, self.zero, total - self.zero
        )

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        return (cumfreq >= self.zero).astype(np.int64)

    def row_program(self):  # noqa: ANN201
        return _coin_ppf, (self.zero, np.int64(1 << self.prec))

    def __getitem__(self, key: object) -> ThirdPartyCoin:
        return ThirdPartyCoin(self.zero[key], self.prec)


def test_a_third_party_row_program_gets_its_own_compiled_loop() -> None:
    rng = np.random.default_rng(8)
    chains, lanes, n = 3, 4, 400
    coin = ThirdPartyCoin(rng.integers(1, 1 << 10, size=(chains, n)), 10)
    fast = Message((chains, lanes), seed=5)
    slow = fast.copy()
    got = LaneView(fast, 3).pop_intervals(coin)
    want = LaneView(slow, 3).pop_intervals(NumpyOnly(coin))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert fast.equals(slow)
    # Pushing the symbols back restores the starting heads; the drawn words stay on the stacks.
    LaneView(fast, 3).push(coin, got[0])
    np.testing.assert_array_equal(fast.head, Message((chains, lanes), seed=5).head)
    np.testing.assert_array_equal(fast._len, fast._drawn)
    assert fast._drawn.sum() > 0
