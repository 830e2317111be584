"""The compiled (numba) rANS loops: ``spec.py``'s rules over many lanes at once.

Why compiled: a push or pop of one row of lanes is a dozen small numpy operations, and a
BB-IS(50) image needs about a hundred rows, so Python's overhead, not the arithmetic, set
the cost. Every loop here codes through two inlined helpers, :func:`encode` and
:func:`decode`, which are ``ScalarLane.push`` and ``ScalarLane.commit`` on one lane of a
:class:`Lanes` (a message's arrays). A lane refills itself from its stack or, when the
stack is empty, with its next counter-based initial word (:func:`initial_word`), so lanes
and chains never wait for each other and may run in any order, on any thread. No
distribution is known here: each pops through the kernel its module registers
(:func:`register_rows_kernel`).

Only :class:`~bitsback_core.ans.message.Message` calls these; it owns the arrays. Status
codes: 0 done, -1 an invalid push interval, -2 a pop interval that misses the cumulative
frequency, -3 a strict message popped past its end. All arithmetic is on uint64 (numba
would promote a mix of signed and unsigned integers to float64, so operands are cast).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np

__all__ = [
    "Lanes",
    "NO_INTERVALS",
    "Rows",
    "initial_word",
    "known_row_ppf",
    "mix64",
    "register_rows_kernel",
    "rows_kernel",
    "run_rows",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class Lanes(NamedTuple):
    """A message's arrays and settings; lane ``k`` is flat (``chain * lanes + lane``)."""

    head: np.ndarray  # uint64 (lanes,)
    words: np.ndarray  # uint32 (lanes, capacity): lane k's stack is words[k, :length[k]]
    length: np.ndarray  # int64 (lanes,)
    drawn: np.ndarray  # int64 (lanes,): initial words drawn so far
    lprec: int
    bprec: int
    seed: np.uint64
    strict: bool
    base: np.uint64  # flat index of lane 0 in the whole message (keys the initial words)


class Rows(NamedTuple):
    """One vector of ``n`` elements per chain laid over rows of lanes (``codec``'s layout).

    Element ``j`` sits at position ``p = offset + n - 1 - j``: lane ``p % lanes``, row
    ``p // lanes``. Rows ``first, first + step, ..., last`` are visited in that order; at
    each position the element is pushed (if ``push_prec``), then popped (if ``pop_prec``).
    """

    lanes: int
    active: np.ndarray  # bool (chains,): inactive chains are not changed
    offset: int
    n: int
    first: int
    last: int
    step: int
    pop_prec: int  # 0: push only
    push_start: np.ndarray  # int64 (chains, n), or (0, 0) without a push
    push_freq: np.ndarray
    push_prec: int  # 0: pop only
    out: np.ndarray  # int64 (3, chains, n): the popped symbols, starts and freqs


@numba.njit(nogil=True, cache=True, inline="always")
def mix64(x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """splitmix64's output function: a bijection of uint64 (a scalar or an array)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(nogil=True, cache=True, inline="always")
def initial_word(seed, lane, index):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Initial word ``index`` of flat lane ``lane`` under ``seed`` (uint64 scalars or arrays)."""
    return mix64((mix64((mix64(seed + _GOLDEN) ^ lane) + _GOLDEN) ^ index) + _GOLDEN)


@numba.njit(nogil=True, cache=True, inline="always")
def valid(start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether ``[start, start + freq)`` is a codable interval of ``2**prec``."""
    return freq >= 1 and start >= 0 and start + freq <= np.int64(1) << prec


# The kernels bind each array of a tuple once, on its own line (``head = m[0]``), and pass
# the arrays on: inside a prange body numba drops writes made through a field (``m.head``)
# or through several arrays unpacked at once (numba issues 5872, 7135), and binding them in
# the per-element helpers would cost reference counting per symbol.


@numba.njit(nogil=True, cache=True, inline="always")
def encode(m, head, words, length, k, start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Push ``[start, start + freq)`` of ``2**prec`` (valid) on lane ``k``, spilling words."""
    f, h, bprec = np.uint64(freq), head[k], np.uint64(m.bprec)
    while (h >> np.uint64(m.lprec - prec + m.bprec)) >= f:
        words[k, length[k]] = np.uint32(h & ((np.uint64(1) << bprec) - np.uint64(1)))
        length[k] += 1
        h >>= bprec
    head[k] = ((h // f) << np.uint64(prec)) + h % f + np.uint64(start)


@numba.njit(nogil=True, cache=True, inline="always")
def decode(m, head, words, length, drawn, k, start, freq, prec):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Pop ``[start, start + freq)`` of ``2**prec`` from lane ``k`` and refill it; a status."""
    cf = np.int64(head[k] & np.uint64((1 << prec) - 1))
    if not (start <= cf and cf - start < freq):
        return -2
    h, bprec = np.uint64(freq) * (head[k] >> np.uint64(prec)) + np.uint64(cf - start), m.bprec
    while h < np.uint64(1) << np.uint64(m.lprec):
        if length[k] > 0:
            length[k] -= 1
            word = np.uint64(words[k, length[k]])
        elif m.strict:
            return -3
        else:
            word = initial_word(m.seed, np.uint64(k) + m.base, np.uint64(drawn[k]))
            word &= np.uint64((1 << bprec) - 1)
            drawn[k] += 1
        h = (h << np.uint64(bprec)) | word
    head[k] = h
    return 0


@numba.njit(nogil=True, cache=True, inline="always")
def _chain(m, job, c, ppf, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Every element of chain ``c`` in ``job``'s row order: push it, pop one; a status."""
    head = m[0]
    words = m[1]
    length = m[2]
    drawn = m[3]
    live = job[1][c]
    push_start = job[8]
    push_freq = job[9]
    out = job[11]
    lanes, end, push_prec, pop_prec = job.lanes, job.offset + job.n, job.push_prec, job.pop_prec
    for row in range(job.first, job.last + job.step, job.step):
        lo, hi = max(job.offset, row * lanes), min(end, (row + 1) * lanes)
        for i in range(hi - lo):
            # Positions run the way the rows do, so a pop meets a chain's elements in
            # increasing order (the row-program contract) and a push in decreasing order;
            # each lane is its own stream, so the order within a row changes no byte.
            p = lo + i if job.step > 0 else hi - 1 - i
            j, k = end - 1 - p, (c - row) * lanes + p  # lane p % lanes of chain c
            if live and push_prec:
                if not valid(push_start[c, j], push_freq[c, j], push_prec):
                    return -1
                encode(m, head, words, length, k, push_start[c, j], push_freq[c, j], push_prec)
            if pop_prec:
                cf = np.int64(head[k] & np.uint64((1 << pop_prec) - 1)) if live else np.int64(0)
                symbol, start, freq = ppf(params, c, j, cf)
                out[0, c, j], out[1, c, j], out[2, c, j] = symbol, start, freq
                code = (
                    decode(m, head, words, length, drawn, k, start, freq, pop_prec) if live else 0
                )
                if code:
                    return code
    return 0


@numba.njit(nogil=True, cache=True, inline="always")
def _chains(m, job, ppf, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Every chain on numba's threads (chains are independent streams); the worst status."""
    status = np.zeros(job[1].shape[0], dtype=np.int64)
    for c in numba.prange(status.shape[0]):
        status[c] = _chain(m, job, c, ppf, params)
    return status.min()


@numba.njit(nogil=True, cache=True, inline="always")
def known_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The row program of intervals found beforehand: ``params[0]`` is ``Rows.out``'s layout.

    Popping with it removes those symbols; the kernel refuses (-2) one whose interval
    misses its lane's cumulative frequency. The codec pops distributions without a row
    program this way, row by row, after numpy found the intervals; a push-only job runs
    the same kernel (:data:`NO_INTERVALS`, never read).
    """
    known = params[0]
    return known[0, c, j], known[1, c, j], known[2, c, j]


@numba.njit(nogil=True, cache=True, parallel=True)
def _known(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return _chains(m, job, known_row_ppf, params)


#: ``known_row_ppf``'s parameters for a job that pops nothing.
NO_INTERVALS = (np.zeros((3, 0, 0), dtype=np.int64),)

#: Row program -> the kernel that pops it (:func:`register_rows_kernel`).
_KERNELS: dict[Any, Any] = {known_row_ppf: _known}

#: The loop a row program's kernel calls: ``run_rows(m, job, ppf, params) -> status``.
run_rows = _chains


def register_rows_kernel(ppf: Any, kernel: Any) -> None:
    """Pop with ``kernel`` for the row program ``ppf``; each distribution registers its own.

    ``kernel(m, job, params)`` is ``numba.njit(nogil=True, cache=True, parallel=True)`` at its module's
    top level and returns ``run_rows(m, job, ppf, params)`` (``ppf`` named as a global).
    Why one such kernel per program rather than one kernel taking the program as an
    argument: a jitted function argument (or one a closure holds) is typed by its identity,
    which changes between processes, so numba's disk cache would never hit and every
    process would compile the loop anew (seconds each time). numba invalidates a cached
    kernel only when the kernel's own file changes, not when this loop does.
    """
    _KERNELS[ppf] = kernel


def rows_kernel(ppf: Any) -> Any:
    """``kernel(lanes, rows, params) -> status`` for the row program ``ppf``."""
    if ppf not in _KERNELS:  # unregistered: compiled on first use in every process

        def kernel(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
            return _chains(m, job, ppf, params)

        _KERNELS[ppf] = numba.njit(nogil=True, parallel=True)(kernel)
    return _KERNELS[ppf]
