"""Compiled pops of whole ``(chains, n)`` vectors: the row loops behind ``codec.pop_intervals``.

A pop runs the distribution's row program (``ppf(params, chain, element, cumfreq)``, see
:meth:`QuantizedDistribution.row_program`) inside the loop over rows of lanes, so a symbol
costs a few nanoseconds instead of a numpy round trip per row.

Why one kernel per built-in program: numba can cache a compiled function on disk only if
its types are the same in every process, and a jitted function passed as an *argument*
is typed by its identity, which changes between processes (each run would recompile, and
the cache would grow). So :func:`_chain_rows` takes the program as an argument but is
only ever inlined into module-level kernels that name their program as a global, which
caches. Programs of third-party distributions get a kernel built on first use (compiled
once per process).

Layout (see ``codec``): row ``r`` holds positions ``[max(offset, r * lanes), min(offset +
n, (r + 1) * lanes))`` of a chain; position ``p`` is element ``offset + n - 1 - p`` on lane
``p % lanes``. Chains are independent streams, so each runs on its own thread until a row
where some lane needs a word from the message's generator (an empty stack) or a second
refill round: it stops there with ``codes[c] = 1``, ``stop[c]`` = that row and
``empties[c, :counts[c]]`` = the lanes to draw for. The caller finishes such rows in row
order (``codec._compiled_rows``), so the generator's words land exactly where the
row-by-row numpy path puts them. ``codes[c]`` is 0 when the chain is done, -1 for an
invalid swap interval and -2 when the program's interval missed the cumulative frequency.
``out[0..2]`` receive symbols, starts and freqs.
"""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np

from bitsback_core.ans._kernels import decoded_head, encode_lane, valid_interval
from bitsback_core.distributions._gaussian_kernels import gaussian_row_ppf
from bitsback_core.distributions._portable_kernels import fixed_gaussian_row_ppf
from bitsback_core.distributions._row_kernels import (
    bernoulli_row_ppf,
    categorical_row_ppf,
    uniform_row_ppf,
)

__all__ = ["pop_kernel"]


@numba.njit(cache=True, inline="always")
def _row_lane(head, words, lengths, k, c, j, active, prec, lprec, bprec, ppf, params,
              swap, push_start, push_freq, push_prec, out):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    """One lane of a row: optional push, peek, search, commit, one refill from the stack.

    Returns 0 (done), 1 (stack empty: a word must be drawn), 2 (still below ``2**lprec``
    after a stack word), -1 (invalid push interval) or -2 (search missed ``cf``).
    """
    if swap and active[c]:
        if not valid_interval(push_start[c, j], push_freq[c, j], np.int64(1) << push_prec):
            return -1
        encode_lane(
            head, words, lengths, k, push_start[c, j], push_freq[c, j], push_prec, lprec, bprec
        )
    cf = np.int64(head[k] & np.uint64((np.int64(1) << prec) - 1)) if active[c] else np.int64(0)
    sym, s, f = ppf(params, c, j, cf)
    out[0, c, j] = sym
    out[1, c, j] = s
    out[2, c, j] = f
    if not active[c]:
        return 0
    if not (s <= cf and cf - s < f):
        return -2
    h = decoded_head(head[k], s, f, prec)
    lower = np.uint64(1) << np.uint64(lprec)
    code = 0
    if h < lower:
        if lengths[k] > 0:
            lengths[k] -= 1
            h = (h << np.uint64(bprec)) | np.uint64(words[k, lengths[k]])
            if h < lower:
                code = 2
        else:
            code = 1
    head[k] = h
    return code


@numba.njit(cache=True, inline="always")
def _chain_rows(c, ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    """Run chain ``c`` from row ``resume[c]`` until it is done or must stop (module docstring)."""
    swap = push_start.shape[0] > 0
    row = resume[c]
    while True:
        count = 0
        again = False
        for p in range(max(offset, row * lanes), min(offset + n, (row + 1) * lanes)):
            k = c * lanes + p % lanes
            code = _row_lane(
                head, words, lengths, k, c, offset + n - 1 - p, active, prec, lprec, bprec,
                ppf, params, swap, push_start, push_freq, push_prec, out,
            )  # fmt: skip
            if code < 0:
                codes[c] = code
                stop[c] = row
                return
            if code == 1:
                empties[c, count] = k
                count += 1
            elif code == 2:
                again = True
        if count > 0 or again:
            codes[c] = 1
            stop[c] = row
            counts[c] = count
            return
        if row == last_row:
            codes[c] = 0
            return
        row += step


# One kernel per built-in row program (see the module docstring for why not one for all).
# Arguments after ``params``: the message's head, words, lengths, lprec, bprec, lanes; the
# chains' active flags; offset, n, prec; the swap's push_start, push_freq, push_prec;
# out; last_row, step; and the per-chain run, resume, codes, stop, counts, empties.


@numba.njit(cache=True, parallel=True)
def _pop_gaussian(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
                  out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    for c in numba.prange(active.shape[0]):
        if run[c]:
            _chain_rows(c, gaussian_row_ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                        push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _pop_fixed_gaussian(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
                        out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    for c in numba.prange(active.shape[0]):
        if run[c]:
            _chain_rows(c, fixed_gaussian_row_ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                        push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _pop_bernoulli(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
                   out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    for c in numba.prange(active.shape[0]):
        if run[c]:
            _chain_rows(c, bernoulli_row_ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                        push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _pop_uniform(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
                 out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    for c in numba.prange(active.shape[0]):
        if run[c]:
            _chain_rows(c, uniform_row_ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                        push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _pop_categorical(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
                     out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
    for c in numba.prange(active.shape[0]):
        if run[c]:
            _chain_rows(c, categorical_row_ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                        push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip


_BUILT_IN = {
    gaussian_row_ppf: _pop_gaussian,
    fixed_gaussian_row_ppf: _pop_fixed_gaussian,
    bernoulli_row_ppf: _pop_bernoulli,
    uniform_row_ppf: _pop_uniform,
    categorical_row_ppf: _pop_categorical,
}


@functools.lru_cache(maxsize=None)
def _kernel_for(ppf: Any) -> Any:
    """A kernel for a third-party row program (compiled on first use in each process)."""

    def pop(params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec, push_start, push_freq, push_prec,
            out, last_row, step, run, resume, codes, stop, counts, empties):  # type: ignore[no-untyped-def]  # fmt: skip  # pragma: no cover - compiled
        for c in numba.prange(active.shape[0]):
            if run[c]:
                _chain_rows(c, ppf, params, head, words, lengths, lprec, bprec, lanes, active, offset, n, prec,
                            push_start, push_freq, push_prec, out, last_row, step, resume, codes, stop, counts, empties)  # fmt: skip

    return numba.njit(parallel=True)(pop)


def pop_kernel(ppf: Any) -> Any:
    """The compiled pop loop for the row program ``ppf``."""
    return _BUILT_IN.get(ppf) or _kernel_for(ppf)
