"""Compiled (numba) inner loops of :class:`~bitsback_core.ans.message.Message`.

Why: a push or a pop of one lane row is a dozen small numpy operations (masking, fancy
indexing, the spill and refill loops), and a BB-IS(50) image needs about a hundred rows,
so the per-operation overhead, not the arithmetic, set the message's cost. These loops
do the same integer arithmetic lane by lane in one call. Lanes are independent streams,
so visiting them in any order gives the same state; everything that depends on an order
across lanes (the words drawn from the seeded generator for empty lanes) stays in Python,
in the order the numpy implementation used.

All arithmetic is on uint64 (numba would promote a mix of signed and unsigned integers to
float64, so every operand is cast explicitly). ``mask`` is a flat bool array over all
lanes, or empty for "every lane".
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["decode_lanes", "push_lanes", "push_vector", "take_words"]


# The rANS rules, once: every compiled loop (here and in ``_rows``) codes through these.


@numba.njit(cache=True, inline="always")
def valid_interval(start, freq, top):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether ``[start, start + freq)`` is a codable interval of ``top = 2**prec``."""
    return freq >= 1 and start >= 0 and start + freq <= top


@numba.njit(cache=True, inline="always")
def encode_lane(head, words, lengths, k, start, freq, prec, lprec, bprec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Push ``[start, start + freq)`` of ``2**prec`` on lane ``k``, spilling words first.

    Spills until ``head < freq * 2**(lprec - prec + bprec)`` so the new head fits.
    """
    shift = np.uint64(lprec - prec + bprec)
    bshift = np.uint64(bprec)
    word_mask = np.uint64((np.int64(1) << bprec) - 1)
    f = np.uint64(freq)
    h = head[k]
    while (h >> shift) >= f:
        words[k, lengths[k]] = np.uint32(h & word_mask)
        lengths[k] += 1
        h = h >> bshift
    head[k] = ((h // f) << np.uint64(prec)) + (h % f) + np.uint64(start)


@numba.njit(cache=True, inline="always")
def decoded_head(head, start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The head after removing ``[start, start + freq)`` (which holds its cumulative frequency)."""
    cf = head & np.uint64((np.int64(1) << prec) - 1)
    return np.uint64(freq) * (head >> np.uint64(prec)) + (cf - np.uint64(start))


@numba.njit(cache=True)
def push_lanes(
    head: np.ndarray,
    start: np.ndarray,
    freq: np.ndarray,
    mask: np.ndarray,
    prec: int,
    lprec: int,
    bprec: int,
    words: np.ndarray,
    lengths: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Encode ``[start, start + freq)`` of ``2**prec`` on every masked lane, spilling words.

    Returns 0, or -1 (and changes nothing) when an interval is invalid. ``words`` must have
    room for ``ceil(prec / bprec)`` more words on every lane.
    """
    n = head.shape[0]
    everyone = mask.shape[0] == 0
    top = np.int64(1) << prec
    for k in range(n):
        if (everyone or mask[k]) and not valid_interval(start[k], freq[k], top):
            return -1
    for k in range(n):
        if everyone or mask[k]:
            encode_lane(head, words, lengths, k, start[k], freq[k], prec, lprec, bprec)
    return 0


@numba.njit(cache=True)
def decode_lanes(
    head: np.ndarray, start: np.ndarray, freq: np.ndarray, mask: np.ndarray, prec: int, lprec: int
) -> np.ndarray:
    """Remove the symbol ``[start, start + freq)`` from every masked lane (no refill yet).

    Returns the lanes whose head fell below ``2**lprec``, in increasing order, or a single
    ``-1`` (and changes nothing) when an interval does not hold the lane's cumulative frequency.
    """  # pragma: no cover - compiled
    n = head.shape[0]
    everyone = mask.shape[0] == 0
    cf_mask = np.uint64((np.int64(1) << prec) - 1)
    for k in range(n):
        if everyone or mask[k]:
            cf = np.int64(head[k] & cf_mask)
            if not (start[k] <= cf and cf - start[k] < freq[k]):
                return np.full(1, -1, dtype=np.int64)
    lower = np.uint64(1) << np.uint64(lprec)
    low = np.empty(n, dtype=np.int64)
    count = 0
    for k in range(n):
        if everyone or mask[k]:
            head[k] = decoded_head(head[k], start[k], freq[k], prec)
            if head[k] < lower:
                low[count] = k
                count += 1
    return low[:count]


@numba.njit(cache=True)
def take_words(
    head: np.ndarray, lanes: np.ndarray, words: np.ndarray, lengths: np.ndarray, bprec: int
) -> np.ndarray:
    """Shift the top stack word into the head of each lane in ``lanes`` that has one.

    Returns the lanes whose stack was empty (in the order given): their words must be
    drawn by the caller.
    """  # pragma: no cover - compiled
    bshift = np.uint64(bprec)
    empty = np.empty(lanes.shape[0], dtype=np.int64)
    count = 0
    for j in range(lanes.shape[0]):
        k = lanes[j]
        if lengths[k] > 0:
            lengths[k] -= 1
            head[k] = (head[k] << bshift) | np.uint64(words[k, lengths[k]])
        else:
            empty[count] = k
            count += 1
    return empty[:count]


@numba.njit(cache=True, parallel=True)
def push_vector(head, words, lengths, lprec, bprec, lanes, active, offset, start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Push element ``j`` of each active chain's ``(chains, n)`` intervals at position ``offset + n - 1 - j``.

    Position ``p`` is lane ``p % lanes``: each lane receives its positions in increasing
    order, exactly as the row-by-row push; chains are split over numba's threads (they are
    independent streams). Returns -1 (changing nothing) on an invalid interval. ``words``
    must have room for every spilled word.
    """
    chains, n = start.shape
    top = np.int64(1) << prec
    for c in range(chains):
        if active[c]:
            for j in range(n):
                if not valid_interval(start[c, j], freq[c, j], top):
                    return -1
    for c in numba.prange(chains):
        if not active[c]:
            continue
        for p in range(offset, offset + n):
            j = offset + n - 1 - p
            encode_lane(
                head,
                words,
                lengths,
                c * lanes + p % lanes,
                start[c, j],
                freq[c, j],
                prec,
                lprec,
                bprec,
            )
    return 0
