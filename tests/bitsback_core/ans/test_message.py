"""Property tests of the rANS message: round trips, empty-stack pops, accounting, bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lane_ops import commit, peek, push

from bitsback_core.ans._kernels import Rows
from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError
from bitsback_core.ans.spec import ScalarLane, splitmix_word

PRECISIONS = st.sampled_from([(32, 32), (32, 16), (16, 16), (24, 8), (40, 24), (8, 1)])


def random_intervals(rng: np.random.Generator, shape: tuple[int, int], prec: int):
    """Random per-lane symbol intervals: a random split point and a random side."""
    total = 1 << prec
    cut = rng.integers(1, total, size=shape) if total > 1 else np.ones(shape, np.int64)
    left = rng.random(shape) < 0.5
    start = np.where(left, 0, cut)
    freq = np.where(left, cut, total - cut)
    return start.astype(np.int64), freq.astype(np.int64)


@settings(max_examples=60, deadline=None)
@given(
    precs=PRECISIONS,
    chains=st.integers(1, 4),
    lanes=st.integers(1, 5),
    steps=st.integers(0, 60),
    seed=st.integers(0, 2**32),
)
def test_push_then_pop_restores_message(precs, chains, lanes, steps, seed):
    lprec, bprec = precs
    rng = np.random.default_rng(seed)
    msg = Message((chains, lanes), lprec=lprec, bprec=bprec, seed=seed)
    before = msg.copy()
    pushed = []
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec, 20) + 1))
        start, freq = random_intervals(rng, (chains, lanes), prec)
        push(msg, start, freq, prec)
        pushed.append((prec, start, freq))
    for prec, start, freq in reversed(pushed):
        cf = peek(msg, prec)
        assert np.all((start <= cf) & (cf < start + freq))
        commit(msg, start, freq, prec)
    assert msg.equals(before)
    assert msg.initial_bits == before.initial_bits


@settings(max_examples=40, deadline=None)
@given(
    precs=PRECISIONS, lanes=st.integers(1, 4), steps=st.integers(1, 80), seed=st.integers(0, 2**16)
)
def test_pops_from_empty_draw_initial_bits_and_push_back(precs, lanes, steps, seed):
    lprec, bprec = precs
    rng = np.random.default_rng(seed)
    msg = Message((2, lanes), lprec=lprec, bprec=bprec, seed=seed)
    head0 = msg.head
    popped = []
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec, 16) + 1))
        total = 1 << prec
        # A uniform-ish two-interval table: find the symbol from the peeked value.
        cut = int(rng.integers(1, total)) if total > 1 else 1

        def lookup(cf, cut=cut, total=total):
            right = cf >= cut
            start = np.where(right, cut, 0)
            freq = np.where(right, total - cut, cut)
            return right.astype(np.int64), start, freq

        cf = peek(msg, prec)
        sym, start, freq = lookup(cf)
        commit(msg, start, freq, prec)
        popped.append((prec, start, freq))
    drawn = msg.drawn_words_per_chain()
    assert msg.net_bits < 0  # popping from nothing takes bits out of the starting state
    for prec, start, freq in reversed(popped):
        push(msg, start, freq, prec)
    # Back at the starting head, holding exactly the words that were drawn.
    np.testing.assert_array_equal(msg.head, head0)
    np.testing.assert_array_equal(
        msg.total_bits_per_chain(), lanes * (lprec + bprec) + bprec * drawn
    )
    assert msg.net_bits == 0


@settings(max_examples=40, deadline=None)
@given(
    precs=st.sampled_from([(32, 32), (32, 16), (16, 16), (24, 8), (40, 24)]),
    lanes=st.integers(1, 4),
    steps=st.integers(1, 200),
    seed=st.integers(0, 2**16),
)
def test_net_bits_match_information_content(precs, lanes, steps, seed):
    """rANS is near-optimal when the head has at least 8 more bits than the symbol precision."""
    lprec, bprec = precs
    rng = np.random.default_rng(seed)
    msg = Message((3, lanes), lprec=lprec, bprec=bprec, seed=seed)
    info = np.zeros((3, lanes))
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec - 8, 16) + 1))
        start, freq = random_intervals(rng, (3, lanes), prec)
        push(msg, start, freq, prec)
        info += prec - np.log2(freq)
    net = msg.net_bits_per_chain()
    # Exact up to rANS rounding, which is below 2**-7 bits per symbol at these precisions.
    assert np.all(np.abs(net - info.sum(axis=1)) <= 1e-6 + steps * lanes * 2.0**-7)
    # The flushed size covers net plus the initial bits, lane by lane.
    assert np.all(msg.total_bits_per_chain() >= net)


def test_inactive_chains_and_lanes_outside_the_row_are_left_untouched():
    msg = Message((2, 3), seed=1)
    before = msg.copy()
    active, lanes = np.array([True, False]), (1, 3)
    push(msg, np.full((2, 3), 5), np.full((2, 3), 7), 8, active, lanes)
    changed = msg.head != before.head
    np.testing.assert_array_equal(changed, [[False, True, True], [False, False, False]])
    assert np.all((peek(msg, 8)[0, 1:] >= 5) & (peek(msg, 8)[0, 1:] < 12))
    commit(msg, np.full((2, 3), 5), np.full((2, 3), 7), 8, active, lanes)
    assert msg.equals(before)


def test_strict_message_refuses_to_pop_past_the_end():
    msg = Message.from_frame_bytes(Message((1, 1), seed=0).to_frame_bytes(), (1, 1), 32, 32, 0)
    with pytest.raises(EmptyStackError):
        for _ in range(4):
            commit(msg, peek(msg, 16), 1, 16)


@pytest.mark.parametrize("kwargs", [dict(lprec=40, bprec=32), dict(bprec=33), dict(lprec=0)])
def test_invalid_precisions(kwargs):
    with pytest.raises(ValueError):
        Message((1, 1), **kwargs)


def test_push_rejects_bad_interval():
    msg = Message((1, 1))
    with pytest.raises(ValueError, match="freq"):
        push(msg, 0, 0, 8)
    with pytest.raises(ValueError, match="2\\*\\*prec"):
        push(msg, 200, 100, 8)


def test_starting_heads_are_counter_based_words():
    msg = Message((2, 3), lprec=32, bprec=32, seed=2**64 - 5)
    expected = [splitmix_word(2**64 - 5, k, 2**64 - 1) | (1 << 32) for k in range(6)]
    assert [int(h) for h in msg.head.reshape(-1)] == expected


@settings(max_examples=50, deadline=None)
@given(
    precs=PRECISIONS,
    chains=st.integers(1, 3),
    lanes=st.integers(1, 4),
    steps=st.integers(1, 80),
    seed=st.integers(0, 2**32),
)
def test_partial_pushes_and_pops_follow_the_specification(precs, chains, lanes, steps, seed):
    """Random pushes and pops on some chains and a run of lanes (pops from empty stacks
    included) match ``spec.ScalarLane``."""
    lprec, bprec = precs
    rng = np.random.default_rng(seed)
    msg = Message((chains, lanes), lprec=lprec, bprec=bprec, seed=seed)
    ref = [ScalarLane(k, lprec, bprec, seed) for k in range(chains * lanes)]
    shape = (chains, lanes)
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec, 24) + 1))
        active = rng.random(chains) < 0.8
        lo = int(rng.integers(0, lanes))
        hi = int(rng.integers(lo + 1, lanes + 1))
        mask = active[:, None] & (np.arange(lanes) >= lo) & (np.arange(lanes) < hi)
        pushing = rng.random() < 0.5
        if pushing:
            start, freq = random_intervals(rng, shape, prec)
            push(msg, start, freq, prec, active, (lo, hi))
        else:
            cf = np.array([lane.peek(prec) for lane in ref]).reshape(shape)
            np.testing.assert_array_equal(peek(msg, prec), cf)
            below = rng.integers(0, cf + 1)  # how far the interval starts below cf
            start = cf - below
            freq = below + 1 + rng.integers(0, (1 << prec) - cf)
            commit(msg, start, freq, prec, active, (lo, hi))
        for lane, s, f, m in zip(ref, start.ravel(), freq.ravel(), mask.ravel()):
            if m:
                (lane.push if pushing else lane.commit)(int(s), int(f), prec)
        np.testing.assert_array_equal(msg.head.reshape(-1), [lane.head for lane in ref])
    assert [list(msg._words[k, : msg._len[k]]) for k in range(chains * lanes)] == [
        lane.stack for lane in ref
    ]
    assert list(msg._drawn) == [lane.drawn for lane in ref]


# --- frame bytes and the initial state (the .bbz frame format, docs/format.md) -------------


def _pop_from_nothing_then_push_back(msg: Message, rng: np.random.Generator, steps: int) -> Message:
    """Pop ``steps`` symbols (drawing initial words), then push them back: a decoder's end state."""
    popped = []
    for _ in range(steps):
        prec = int(rng.integers(1, min(msg.lprec, 16) + 1))
        cf = peek(msg, prec)
        freq = np.minimum(rng.integers(1, 4, size=msg.shape), (1 << prec) - cf)
        commit(msg, cf, freq, prec)
        popped.append((prec, cf, freq))
    for prec, start, freq in reversed(popped):
        push(msg, start, freq, prec)
    return msg


@settings(max_examples=40, deadline=None)
@given(
    precs=PRECISIONS,
    chains=st.integers(1, 3),
    lanes=st.integers(1, 3),
    steps=st.integers(0, 60),
    seed=st.integers(0, 2**64 - 1),
)
def test_undoing_every_pop_ends_in_the_initial_state(precs, chains, lanes, steps, seed):
    """After popping from nothing and pushing back, the stack is the lane's initial words 0..n-1."""
    lprec, bprec = precs
    rng = np.random.default_rng(seed % 2**32)
    msg = Message((chains, lanes), lprec=lprec, bprec=bprec, seed=seed)
    assert msg.is_initial_state()
    _pop_from_nothing_then_push_back(msg, rng, steps)
    assert msg.is_initial_state()
    # Word k from the top is initial word k of its lane (the Python reference).
    for lane in range(chains * lanes):
        n = int(msg._len[lane])
        expected = [splitmix_word(seed, lane, k) & ((1 << bprec) - 1) for k in range(n)]
        assert [int(w) for w in msg._words[lane, :n][::-1]] == expected
    back = Message.from_frame_bytes(msg.to_frame_bytes(), (chains, lanes), lprec, bprec, seed)
    assert back.is_initial_state() and back.equals(msg)


def test_initial_state_compares_heads_lengths_and_every_word():
    rng = np.random.default_rng(5)
    msg = _pop_from_nothing_then_push_back(Message((2, 2), lprec=32, bprec=16, seed=9), rng, 40)
    assert msg.is_initial_state() and int(msg._len.min()) > 0
    changed_word = msg.copy()
    changed_word._words[1, 0] ^= 1
    assert not changed_word.is_initial_state()
    other_seed = Message.from_frame_bytes(msg.to_frame_bytes(), (2, 2), 32, 16, seed=10)
    assert not other_seed.is_initial_state()  # other heads and other initial words
    extra = msg.copy()
    push(extra, 3, 5, 8)
    assert not extra.is_initial_state()
    pushed_word = msg.copy()
    pushed_word._len[0] += 1  # one word too many below the initial words
    assert not pushed_word.is_initial_state()


def test_frame_bytes_layout_and_round_trip():
    rng = np.random.default_rng(1)
    msg = Message((2, 3), seed=7)
    for _ in range(50):
        start, freq = random_intervals(rng, (2, 3), 12)
        push(msg, start, freq, 12)
    data = msg.to_frame_bytes()
    words = int(msg._len.sum())
    assert len(data) == 12 * 6 + 4 * words  # heads u64, lengths u32, words u32; nothing else
    np.testing.assert_array_equal(np.frombuffer(data, "<u8", 6), msg.head.reshape(-1))
    np.testing.assert_array_equal(np.frombuffer(data, "<u4", 6, 48), msg._len)
    back = Message.from_frame_bytes(data, (2, 3), 32, 32, 7)
    assert back.equals(msg) and back.strict and back.seed == 7
    assert back.total_bits == msg.total_bits and back.net_bits == msg.net_bits  # nothing drawn
    assert not back.is_initial_state()
    assert data == msg.to_frame_bytes()  # deterministic


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b[:11], "truncated"),
        (lambda b: b[:-4], "size mismatch"),
        (lambda b: b + b"\0\0\0\0", "size mismatch"),
        (lambda b: b"\0" * 8 + b[8:], "heads out of range"),
        (lambda b: b[:8] + b"\xff\xff\xff\x7f" + b[12:], "size mismatch"),
    ],
)
def test_from_frame_bytes_rejects_bad_input(mutate, match):
    msg = Message((1, 1), seed=0)
    push(msg, 1, 3, 30)
    push(msg, 1, 3, 30)
    with pytest.raises(MessageFormatError, match=match):
        Message.from_frame_bytes(mutate(msg.to_frame_bytes()), (1, 1), 32, 32, 0)


def test_from_frame_bytes_rejects_words_wider_than_bprec():
    msg = Message((1, 1), lprec=16, bprec=8, seed=0)
    for _ in range(10):
        push(msg, 1, 3, 12)
    data = bytearray(msg.to_frame_bytes())
    data[-1] = 0xFF  # the last word's high byte
    with pytest.raises(MessageFormatError, match="wider than bprec"):
        Message.from_frame_bytes(bytes(data), (1, 1), 16, 8, 0)


@settings(max_examples=40, deadline=None)
@given(
    precs=PRECISIONS,
    chains=st.integers(2, 5),
    lanes=st.integers(1, 4),
    steps=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_a_chain_group_codes_the_bits_its_chains_would_in_place(
    precs, chains, lanes, steps, seed, data
):
    """Pushes and pops (drawing initial words) on chains lo..hi-1 of a message, against the
    same on ``chains(lo, hi)`` put back: equal heads, stacks, drawn words and net bits."""
    lprec, bprec = precs
    lo = data.draw(st.integers(0, chains - 1))
    hi = data.draw(st.integers(lo + 1, chains))
    rng = np.random.default_rng(seed)
    whole = Message((chains, lanes), lprec=lprec, bprec=bprec, seed=seed)
    other = whole.copy()
    part = other.chains(lo, hi)
    mask = np.zeros(chains, dtype=bool)
    mask[lo:hi] = True
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec, 20) + 1))
        if rng.random() < 0.5:
            start, freq = random_intervals(rng, (chains, lanes), prec)
            push(whole, start, freq, prec, mask)
            push(part, start[lo:hi], freq[lo:hi], prec)
        else:  # pop the symbol of width one under the cumulative frequency: no bits back
            commit(whole, peek(whole, prec), 1, prec, mask)
            commit(part, peek(part, prec), 1, prec)
    other.put_chains(lo, part)
    assert other.equals(whole) and other.net_bits == whole.net_bits
    np.testing.assert_array_equal(other._drawn, whole._drawn)


def test_chain_groups_are_checked():
    msg = Message((3, 2))
    for lo, hi in [(-1, 2), (2, 2), (1, 4)]:
        with pytest.raises(ValueError, match="out of range"):
            msg.chains(lo, hi)
    with pytest.raises(ValueError, match="not chains 0"):
        msg.put_chains(0, msg.chains(1, 2))


def test_a_pop_without_a_row_program_is_refused():
    msg = Message((1, 2), seed=3)
    before = msg.copy()
    empty = np.zeros((0, 0), dtype=np.int64)
    rows = Rows(
        2, np.ones(1, bool), 0, 2, 0, 0, 1, 8, empty, empty, 0, np.zeros((3, 1, 2), np.int64)
    )
    with pytest.raises(ValueError, match="row program"):
        msg.code_rows(rows)
    assert msg.equals(before)
