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

__all__ = ["decode_lanes", "pop_chains", "pop_chains_parallel", "push_lanes", "push_vector", "push_vector_parallel", "take_words"]


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
        if (everyone or mask[k]) and (freq[k] < 1 or start[k] < 0 or start[k] + freq[k] > top):
            return -1
    shift = np.uint64(lprec - prec + bprec)
    bshift = np.uint64(bprec)
    word_mask = np.uint64((np.int64(1) << bprec) - 1)
    uprec = np.uint64(prec)
    for k in range(n):
        if everyone or mask[k]:
            f = np.uint64(freq[k])
            h = head[k]
            while (h >> shift) >= f:
                words[k, lengths[k]] = np.uint32(h & word_mask)
                lengths[k] += 1
                h = h >> bshift
            head[k] = ((h // f) << uprec) + (h % f) + np.uint64(start[k])
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
    uprec = np.uint64(prec)
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
            h = head[k]
            offset = (h & cf_mask) - np.uint64(start[k])
            h = np.uint64(freq[k]) * (h >> uprec) + offset
            head[k] = h
            if h < lower:
                low[count] = k
                count += 1
    return low[:count]


@numba.njit(cache=True)
def take_words(head: np.ndarray, lanes: np.ndarray, words: np.ndarray, lengths: np.ndarray, bprec: int) -> np.ndarray:
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


def _make_push_vector(parallel: bool):  # type: ignore[no-untyped-def]
    """:data:`push_vector`, serial or with the chains split over threads."""

    def push_vector(head, words, lengths, lprec, bprec, lanes, active, offset, start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
        chains, n = start.shape
        top = np.int64(1) << prec
        for c in range(chains):
            if active[c]:
                for j in range(n):
                    if freq[c, j] < 1 or start[c, j] < 0 or start[c, j] + freq[c, j] > top:
                        return -1
        shift = np.uint64(lprec - prec + bprec)
        bshift = np.uint64(bprec)
        word_mask = np.uint64((np.int64(1) << bprec) - 1)
        uprec = np.uint64(prec)
        for c in numba.prange(chains):
            if not active[c]:
                continue
            for p in range(offset, offset + n):
                j = offset + n - 1 - p
                k = c * lanes + p % lanes
                f = np.uint64(freq[c, j])
                h = head[k]
                while (h >> shift) >= f:
                    words[k, lengths[k]] = np.uint32(h & word_mask)
                    lengths[k] += 1
                    h = h >> bshift
                head[k] = ((h // f) << uprec) + (h % f) + np.uint64(start[c, j])
        return 0

    return numba.njit(cache=True, parallel=parallel)(push_vector)


#: Push element ``j`` of each active chain's ``(chains, n)`` intervals at position
#: ``offset + n - 1 - j`` (lane ``position % lanes``): each lane receives its positions in
#: increasing order, exactly as the row-by-row push. Returns -1 (changing nothing) on an
#: invalid interval. ``words`` must have room for every spilled word.
push_vector = _make_push_vector(parallel=False)
#: :data:`push_vector` with the chains split over numba's threads (same result).
push_vector_parallel = _make_push_vector(parallel=True)


@numba.njit(cache=True, inline="always")
def _row_lane(head, words, lengths, k, c, j, active, cf_mask, uprec, lower, bshift, word_mask,
              ppf, params, swap, push_start, push_freq, push_shift, upush, push_top, out):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    """One lane of a row: optional push, peek, search, commit, one refill from the stack.

    Returns 0 (done), 1 (stack empty: a word must be drawn), 2 (still below ``2**lprec``
    after a stack word), -1 (invalid push interval) or -2 (search missed ``cf``).
    """
    if swap and active[c]:
        ps, pf = push_start[c, j], push_freq[c, j]
        if pf < 1 or ps < 0 or ps + pf > push_top:
            return -1
        f = np.uint64(pf)
        h = head[k]
        while (h >> push_shift) >= f:
            words[k, lengths[k]] = np.uint32(h & word_mask)
            lengths[k] += 1
            h = h >> bshift
        head[k] = ((h // f) << upush) + (h % f) + np.uint64(ps)
    cf = np.int64(head[k] & cf_mask) if active[c] else np.int64(0)
    sym, s, f2 = ppf(params, c, j, cf)
    out[0, c, j] = sym
    out[1, c, j] = s
    out[2, c, j] = f2
    if not active[c]:
        return 0
    if not (s <= cf and cf - s < f2):
        return -2
    h = np.uint64(f2) * (head[k] >> uprec) + np.uint64(cf - s)
    code = 0
    if h < lower:
        if lengths[k] > 0:
            lengths[k] -= 1
            h = (h << bshift) | np.uint64(words[k, lengths[k]])
            if h < lower:
                code = 2
        else:
            code = 1
    head[k] = h
    return code


def _make_pop_chains(parallel: bool):  # type: ignore[no-untyped-def]
    """The row loop of :data:`pop_chains`, serial or with the chains split over threads."""

    def pop_chains(head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, ppf, params,
                   push_start, push_freq, push_prec, out, last_row, step,
                   run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
        chains = active.shape[0]
        swap = push_start.shape[0] > 0
        cf_mask = np.uint64((np.int64(1) << prec) - 1)
        uprec = np.uint64(prec)
        lower = np.uint64(1) << np.uint64(lprec)
        bshift = np.uint64(bprec)
        word_mask = np.uint64((np.int64(1) << bprec) - 1)
        push_shift = np.uint64(lprec - push_prec + bprec)
        upush = np.uint64(push_prec)
        push_top = np.int64(1) << push_prec
        for c in numba.prange(chains):
            if not run[c]:
                continue
            row = resume[c]
            while True:
                count = 0
                again = False
                failed = 0
                for p in range(max(offset, row * lanes), min(offset + n, (row + 1) * lanes)):
                    k = c * lanes + p % lanes
                    code = _row_lane(
                        head, words, lengths, k, c, offset + n - 1 - p, active,
                        cf_mask, uprec, lower, bshift, word_mask, ppf, params, swap,
                        push_start, push_freq, push_shift, upush, push_top, out,
                    )  # fmt: skip
                    if code < 0:
                        failed = code
                        break
                    if code == 1:
                        empties[c, count] = k
                        count += 1
                    elif code == 2:
                        again = True
                if failed < 0:
                    codes[c] = failed
                    stop[c] = row
                    break
                if count > 0 or again:
                    codes[c] = 1
                    stop[c] = row
                    counts[c] = count
                    break
                if row == last_row:
                    codes[c] = 0
                    break
                row += step
        return 0

    return numba.njit(cache=True, parallel=parallel)(pop_chains)


#: Pop (or, with ``push_start``, swap) a ``(chains, n)`` vector, rows ``resume[c]`` through
#: ``last_row`` (by ``step``) of every chain ``c`` with ``run[c]``.
#:
#: Row ``r`` holds positions ``[max(offset, r * lanes), min(offset + n, (r + 1) * lanes))``
#: of a chain. Per lane of a row (:func:`_row_lane`): push first when swapping, then peek,
#: search with ``ppf`` (inactive chains search ``cf = 0`` and commit nothing), commit, and
#: refill the head from the lane's stack. Chains are independent streams, so each runs on
#: its own until a row where some lane needs a word from the generator (an empty stack) or
#: a second refill round: there it stops with ``codes[c] = 1``, ``stop[c]`` = that row and
#: ``empties[c, :counts[c]]`` = the lanes to draw for, and the caller finishes such rows
#: in row order (see ``codec._compiled_rows``), so the generator's words go where the
#: row-by-row numpy path puts them. ``codes[c]`` is 0 when the chain is done, -1 for an
#: invalid swap interval, -2 when the search missed the cumulative frequency.
#: ``out[0..2]`` receive symbols, starts and freqs.
pop_chains = _make_pop_chains(parallel=False)
#: :data:`pop_chains` with the chains split over numba's threads (same result).
pop_chains_parallel = _make_pop_chains(parallel=True)
