"""The compiled message against the one-lane specification in ``bitsback_core.ans.spec``."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from lane_ops import commit, peek, push

from bitsback_core.ans.message import Message, initial_word
from bitsback_core.ans.spec import ScalarLane, splitmix_word

PRECISIONS = st.sampled_from([(32, 32), (32, 16), (16, 16), (24, 8), (40, 24), (8, 1)])


def _frame_bytes(lanes: list[ScalarLane]) -> bytes:
    """``Message.to_frame_bytes``'s layout, written from the scalar lanes."""
    heads = b"".join(struct.pack("<Q", lane.head) for lane in lanes)
    lengths = b"".join(struct.pack("<I", len(lane.stack)) for lane in lanes)
    words = b"".join(struct.pack("<I", w) for lane in lanes for w in lane.stack)
    return heads + lengths + words


def _interval(rng: np.random.Generator, prec: int) -> tuple[int, int]:
    total = 1 << prec
    cut = int(rng.integers(1, total)) if total > 1 else 1
    return (0, cut) if rng.random() < 0.5 else (cut, total - cut)


@settings(max_examples=40, deadline=None)
@given(
    precisions=PRECISIONS,
    seed=st.integers(0, 2**64 - 1),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 4)),
    steps=st.integers(1, 40),
    data_seed=st.integers(0, 2**32 - 1),
)
def test_message_follows_the_scalar_specification(
    precisions: tuple[int, int], seed: int, shape: tuple[int, int], steps: int, data_seed: int
) -> None:
    lprec, bprec = precisions
    rng = np.random.default_rng(data_seed)
    message = Message(shape, lprec, bprec, seed=seed)
    lanes = [ScalarLane(k, lprec, bprec, seed) for k in range(shape[0] * shape[1])]
    assert message.to_frame_bytes() == _frame_bytes(lanes)
    for _ in range(steps):
        prec = int(rng.integers(1, min(lprec, 32) + 1))
        pairs = [_interval(rng, prec) for _ in lanes]
        start = np.array([p[0] for p in pairs], dtype=np.int64).reshape(shape)
        freq = np.array([p[1] for p in pairs], dtype=np.int64).reshape(shape)
        if rng.random() < 0.5:
            push(message, start, freq, prec)
            for lane, (s, f) in zip(lanes, pairs):
                lane.push(s, f, prec)
        else:
            # Pop whichever symbol the peeked value falls in: a two-symbol alphabet split at a cut.
            cf = peek(message, prec).ravel()
            assert [lane.peek(prec) for lane in lanes] == cf.tolist()
            chosen = []
            for lane, (s, f), c in zip(lanes, pairs, cf.tolist()):
                lo, hi = (
                    (s, f)
                    if s <= c < s + f
                    else ((0, s) if c < s else (s + f, (1 << prec) - s - f))
                )
                lane.commit(lo, hi, prec)
                chosen.append((lo, hi))
            commit(
                message,
                np.array([c[0] for c in chosen]).reshape(shape),
                np.array([c[1] for c in chosen]).reshape(shape),
                prec,
            )
        assert message.to_frame_bytes() == _frame_bytes(lanes)
    drawn = np.array([lane.drawn for lane in lanes]).reshape(shape).sum(axis=1)
    assert message.drawn_words_per_chain().tolist() == drawn.tolist()
    assert message.total_bits == sum(lane.total_bits() for lane in lanes)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**20), st.integers(0, 2**64 - 1))
def test_initial_words_match_the_specification(seed: int, lane: int, index: int) -> None:
    got = initial_word(seed, np.array([lane], dtype=np.uint64), np.array([index], dtype=np.uint64))
    assert int(got[0]) == splitmix_word(seed, lane, index)
