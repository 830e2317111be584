"""Whole vectors over the lanes of a message: layout, offsets, masks, swaps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsback_core.ans.codec import (
    LaneView,
    lane_offset,
    pop_intervals,
    pop_symbols,
    push_symbols,
    swap_symbols,
)
from bitsback_core.ans.message import Message
from bitsback_core.distributions import Categorical, Uniform


def categorical(rng: np.random.Generator, chains: int, n: int, symbols: int = 5, prec: int = 12) -> Categorical:
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
    push_symbols(msg, Uniform(7, 8, (chains, 3 * lanes)), rng.integers(0, 7, size=(chains, 3 * lanes)))
    before = msg.copy()
    dist = categorical(rng, chains, n)
    symbols = rng.integers(0, 5, size=(chains, n))
    push_symbols(msg, dist, symbols, offset=offset)
    got, start, freq = pop_intervals(msg, dist, offset=offset)
    np.testing.assert_array_equal(got, symbols)
    expected_start, expected_freq = dist.cdf(symbols)
    np.testing.assert_array_equal(start, expected_start)
    np.testing.assert_array_equal(freq, expected_freq)
    assert msg.equals(before)


def test_a_vector_fills_rows_of_lanes() -> None:
    """n symbols over K lanes grow each lane by about n / K symbols' worth, not one lane by n."""
    msg = Message((1, 4), seed=1)
    push_symbols(msg, Uniform(1 << 16, 16, (1, 64)), np.arange(64)[None, :])
    # 16 bits x 64 symbols = 1,024 bits: 256 per lane, i.e. 8 words (bprec 32) each.
    assert np.all(np.abs(msg._len - 8) <= 1)


def test_inactive_chains_are_left_alone() -> None:
    rng = np.random.default_rng(0)
    msg = Message((3, 4), seed=2)
    before = msg.copy()
    active = np.array([True, False, True])
    dist = categorical(rng, 3, 10)
    symbols = rng.integers(0, 5, size=(3, 10))
    push_symbols(msg, dist, symbols, active=active, offset=2)
    np.testing.assert_array_equal(msg.head[1], before.head[1])
    assert msg._len.reshape(3, 4)[1].sum() == 0
    popped = pop_symbols(msg, dist, active=active, offset=2)
    np.testing.assert_array_equal(popped[active], symbols[active])
    assert msg.equals(before)


def test_swap_in_reverse_undoes_the_swap() -> None:
    rng = np.random.default_rng(4)
    chains, lanes, n = 2, 3, 11
    msg = Message((chains, lanes), seed=3)
    push_symbols(msg, Uniform(5, 8, (chains, 4 * n)), rng.integers(0, 5, size=(chains, 4 * n)))
    before = msg.copy()
    p, q = categorical(rng, chains, n), categorical(rng, chains, n)
    c = rng.integers(0, 5, size=(chains, n))
    z = swap_symbols(msg, p, c, q, offset=5)
    back = swap_symbols(msg, q, z, p, reverse=True, offset=5)
    np.testing.assert_array_equal(back, c)
    assert msg.equals(before)


def test_lane_view_uses_the_step_offset() -> None:
    rng = np.random.default_rng(5)
    msg = Message((2, 8), seed=4)
    dist = categorical(rng, 2, 13)
    symbols = rng.integers(0, 5, size=(2, 13))
    LaneView.for_step(msg, 3).push(dist, symbols)
    np.testing.assert_array_equal(pop_symbols(msg, dist, offset=lane_offset(3, 8)), symbols)


def test_shape_mismatches_are_refused() -> None:
    msg = Message((2, 4))
    with pytest.raises(ValueError, match="chains=2"):
        push_symbols(msg, Uniform(4, 8, (3, 5)), np.zeros((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="chains=2"):
        push_symbols(msg, Uniform(4, 8, (2, 5)), np.zeros((2, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="chains=2"):
        pop_symbols(msg, Uniform(4, 8, (5,)))
    with pytest.raises(ValueError, match="differ in length"):
        swap_symbols(msg, Uniform(4, 8, (2, 5)), np.zeros((2, 5), dtype=np.int64), Uniform(4, 8, (2, 6)))
