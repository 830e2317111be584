"""Compiled integer kernels of the portable distributions (see :mod:`bitsback_core.portable`).

Each element is computed with integer operations only, so results do not depend on the
CPU or numba being enabled.

Why the loops are serial (``parallel=False``): every call here is a few milliseconds at
most (1,000 rows of 784 coins for BB-IS(50)), and a numba parallel region ends in a
barrier. On a machine shared with other jobs one of the two threads is often descheduled,
and the barrier then waits for its time slice: measured on two shared cores (load 4 to 6),
the serial loops took 4 to 9 ms where the parallel ones took 14 to 22 ms (median of
interleaved runs), and even their best case was no faster. The float64 products around
them stay multi-threaded (BLAS), and they are most of the work.
"""

from __future__ import annotations

import numba
import numpy as np

from bitsback_core.portable.coins import coin_tables
from bitsback_core.portable.formats import LATENT_BITS, LOGIT_BITS, PROB_BITS, TABLE_STEP_BITS
from bitsback_core.portable.kernels import count_one, gaussian_start, ilookup

__all__ = [
    "clamp_and_invert",
    "fixed_counts",
    "fixed_gaussian_cdf",
    "fixed_gaussian_ppf_interval",
    "fixed_gaussian_row_ppf",
    "fixed_gaussian_start_table",
    "fixed_gaussian_table_ppf",
    "fixed_gaussian_table_row_ppf",
    "sum_log2_from_counts",
    "sum_log2_from_fixed_logits",
]


@numba.njit(nogil=True, cache=True, inline="always")
def _search(m, inv_s, edges, n, prec, full, cf, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Largest bucket ``i`` with ``start(i) <= cf``, with its start and freq (bisection)."""
    lo, hi = np.int64(0), np.int64(n - 1)
    s_lo = np.int64(0)
    s_hi = np.int64(1) << prec  # start(n)
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        s_mid = gaussian_start(mid, n, m, inv_s, edges, prec, full, nd, nd_lo, nd_last)
        if s_mid <= cf:
            lo, s_lo = mid, s_mid
        else:
            hi = mid - 1
            s_hi = s_mid
    return lo, s_lo, s_hi - s_lo  # invariant: s_hi == start(hi + 1), and lo == hi here


@numba.njit(nogil=True, cache=True)
def _cdf(m, inv_s, idx, edges, n, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = m.shape[0]
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for e in range(size):
        s = gaussian_start(idx[e], n, m[e], inv_s[e], edges, prec, full, nd, nd_lo, nd_last)
        start[e] = s
        freq[e] = (
            gaussian_start(idx[e] + 1, n, m[e], inv_s[e], edges, prec, full, nd, nd_lo, nd_last) - s
        )
    return start, freq


@numba.njit(nogil=True, cache=True)
def _ppf_interval(m, inv_s, cf, edges, n, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = m.shape[0]
    sym = np.empty(size, dtype=np.int64)
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for e in range(size):
        sym[e], start[e], freq[e] = _search(
            m[e], inv_s[e], edges, n, prec, full, cf[e], nd, nd_lo, nd_last
        )
    return sym, start, freq


def fixed_gaussian_cdf(m, inv_s, idx, edges, n, prec, full, ndtr):  # type: ignore[no-untyped-def]
    """``(start, freq)`` of buckets ``idx`` (flat int64 arrays of one length)."""
    return _cdf(m, inv_s, idx, edges, np.int64(n), np.int64(prec), bool(full), *ndtr)


def fixed_gaussian_ppf_interval(m, inv_s, cf, edges, n, prec, full, ndtr):  # type: ignore[no-untyped-def]
    """``(bucket, start, freq)`` holding each cumulative frequency ``cf``."""
    return _ppf_interval(m, inv_s, cf, edges, np.int64(n), np.int64(prec), bool(full), *ndtr)


@numba.njit(nogil=True, cache=True, inline="always")
def _table_search(starts, u, n, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """:func:`_search` in row ``u`` of a start table (``starts[u, i] == start(i)``, ``i <= n``).

    The same rule (largest ``i`` with ``start(i) <= cf``) on the same integers, so the same
    answer; each probe is one load instead of a table interpolation.
    """
    lo, hi = np.int64(0), np.int64(n - 1)
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if starts[u, mid] <= cf:
            lo = mid
        else:
            hi = mid - 1
    s = np.int64(starts[u, lo])
    return lo, s, np.int64(starts[u, lo + 1]) - s


@numba.njit(nogil=True, cache=True)
def _start_table(m, inv_s, edges, n, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = m.shape[0]
    out = np.empty((size, n + 1), dtype=np.int32)  # starts <= 2**prec <= 2**30
    for e in range(size):
        for i in range(n + 1):
            out[e, i] = gaussian_start(i, n, m[e], inv_s[e], edges, prec, full, nd, nd_lo, nd_last)
    return out


def fixed_gaussian_start_table(m, inv_s, edges, n, prec, full, ndtr):  # type: ignore[no-untyped-def]
    """``start(i)`` for every bucket edge ``i in [0, n]`` of each (flat) element: ``(size, n + 1)``.

    int32 (starts are at most ``2**MAX_PORTABLE_PREC = 2**30``): half the cache lines of the
    bisections that read it.
    """
    return _start_table(m, inv_s, edges, np.int64(n), np.int64(prec), bool(full), *ndtr)


@numba.njit(nogil=True, cache=True)
def _table_ppf(starts, width, cf, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = cf.shape
    sym = np.empty((rows, cols), dtype=np.int64)
    start = np.empty((rows, cols), dtype=np.int64)
    freq = np.empty((rows, cols), dtype=np.int64)
    for r in range(rows):
        for j in range(cols):
            sym[r, j], start[r, j], freq[r, j] = _table_search(
                starts, r * width + j % width, n, cf[r, j]
            )
    return sym, start, freq


def fixed_gaussian_table_ppf(starts, width, cf, n):  # type: ignore[no-untyped-def]
    """``(bucket, start, freq)`` of a 2-D ``cf``; element ``(r, j)`` reads table row ``r * width + j % width``."""
    return _table_ppf(
        starts, np.int64(width), np.ascontiguousarray(cf, dtype=np.int64), np.int64(n)
    )


@numba.njit(nogil=True, cache=True)
def fixed_gaussian_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row program; params ``(mean, inv_std, edges, n, prec, full, ndtr values, lo, last)``."""
    m, inv_s, edges, n, prec, full, nd, nd_lo, nd_last = params
    return _search(m[c, j], inv_s[c, j], edges, n, prec, full, cf, nd, nd_lo, nd_last)


@numba.njit(nogil=True, cache=True)
def fixed_gaussian_table_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row program over a start table; params ``(starts, width, n)``: element ``(c, j)`` reads
    row ``c * width + j % width`` (a tiled batch, see ``FixedGaussian``).

    A program of its own rather than a branch of :func:`fixed_gaussian_row_ppf`: measured,
    20 chains x 2,500 pops, 4.4-5.3 ms against 5.9-6.9 ms as a branch beside the
    interpolated search (docs/performance.md).
    """
    starts, width, n = params
    return _table_search(starts, c * width + j % width, n, cf)


@numba.njit(nogil=True, cache=True)
def _clamp(mean, log_std, mean_limit, ls_lo, ls_hi, ex, ex_lo, ex_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = mean.shape[0]
    m = np.empty(size, dtype=np.int64)
    inv_s = np.empty(size, dtype=np.int64)
    for e in range(size):
        m[e] = min(max(mean[e], -mean_limit), mean_limit)
        ls = min(max(log_std[e], ls_lo), ls_hi)
        inv_s[e] = ilookup(ex, ex_lo, ex_last, -ls, LATENT_BITS)
    return m, inv_s


def clamp_and_invert(mean, log_std, mean_limit, log_std_range, exp):  # type: ignore[no-untyped-def]
    """Clamped means and ``1 / std = exp(-clamped log_std)`` from the ``exp`` table (flat int64)."""
    return _clamp(
        mean, log_std, np.int64(mean_limit), np.int64(log_std_range[0]),
        np.int64(log_std_range[1]), *exp,
    )  # fmt: skip


@numba.njit(nogil=True, cache=True, inline="always")
def _fixed_logit(values, r, c, shift):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Element ``(r, c)`` as a fixed-point logit: int64 logits as they are (``shift`` 0), or a
    float (64 or 32) accumulator of exact integers rescaled by ``shift`` bits (round half up), the
    rescale of :func:`~bitsback_core.portable.kernels.rescale_layer` fused into the reader."""
    v = np.int64(values[r, c])
    if shift > 0:
        return (v + (np.int64(1) << (shift - 1))) >> shift
    return v


@numba.njit(nogil=True, cache=True)
def _counts(values, shift, prec, logit_bits, sig, sig_lo, sig_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = values.shape
    out = np.empty((rows, cols), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            logit = _fixed_logit(values, r, c, shift)
            out[r, c] = count_one(logit, prec, sig, sig_lo, sig_last, logit_bits)
    return out


def fixed_counts(
    logits: np.ndarray, prec: int, logit_bits: int, sigmoid: tuple, shift: int = 0
) -> np.ndarray:  # type: ignore[type-arg]
    """Counts of ones of coins with fixed-point ``logits`` (2-D int64).

    ``shift > 0``: ``logits`` is a float accumulator holding exact integers with
    ``logit_bits + shift`` fraction bits (a portable network's last product, unrounded).
    """
    values = logits if shift > 0 else np.asarray(logits, dtype=np.int64)
    return _counts(
        np.ascontiguousarray(values),
        np.int64(shift),
        np.int64(prec),
        np.int64(logit_bits),
        *sigmoid,
    )


@numba.njit(nogil=True, cache=True, inline="always")
def _clipped_count(logit, prec, sig, sig_lo, lo_clip, hi_clip):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """:func:`~bitsback_core.portable.kernels.count_one` through :func:`coin_tables`' cells.

    The logit is clipped where the count stops changing, so the table's own clamp is never
    reached and the read stays inside the kept cells: the same integer, fewer cache lines.
    It restates ``count_one`` rather than calling it on the clipped logit because the kept
    cells are uint32, which ``ilookup``'s arithmetic does not widen (tried: wrong counts).
    """
    k = LOGIT_BITS - TABLE_STEP_BITS
    u = min(max(logit, lo_clip), hi_clip) - (sig_lo << k)
    i = u >> k
    lo = np.int64(sig[i])
    s = lo + (((np.int64(sig[i + 1]) - lo) * (u - (i << k))) >> k)
    c = ((s << prec) + (np.int64(1) << (PROB_BITS - 1))) >> PROB_BITS
    return min(max(c, np.int64(1)), (np.int64(1) << prec) - 1)


@numba.njit(nogil=True, cache=True, inline="always")
def _sum_log2(values, counted, shift, symbols, repeat, prec, tabs):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row sums of ``log2 freq`` of coins: ``values`` holds their counts of ones if
    ``counted``, else their fixed-point logits (read as :func:`_fixed_logit` reads them).

    ``tabs``: :func:`coin_tables`' (``log2 f`` at ``f - 1``). Inlined into one kernel per
    case, each passing ``counted`` as a constant, so the test leaves the inner loop
    (measured: as a run-time argument it slowed the logits case).
    """
    sig, sig_lo, lo_clip, hi_clip, log2 = tabs
    rows, cols = values.shape
    total = np.int64(1) << prec
    out = np.empty(rows, dtype=np.int64)
    for r in range(rows):
        x = symbols[r // repeat]
        acc = np.int64(0)
        for c in range(cols):
            if counted:
                c1 = np.int64(values[r, c])
            else:
                logit = _fixed_logit(values, r, c, shift)
                c1 = _clipped_count(logit, prec, sig, sig_lo, lo_clip, hi_clip)
            acc += np.int64(log2[(c1 if x[c] != 0 else total - c1) - 1])
        out[r] = acc
    return out


@numba.njit(nogil=True, cache=True)
def _sum_log2_logits(values, shift, symbols, repeat, prec, tabs):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return _sum_log2(values, False, shift, symbols, repeat, prec, tabs)


@numba.njit(nogil=True, cache=True)
def _sum_log2_counts(counts, symbols, repeat, prec, tabs):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return _sum_log2(counts, True, np.int64(0), symbols, repeat, prec, tabs)


def sum_log2_from_fixed_logits(logits, symbols, repeat, prec, shift=0):  # type: ignore[no-untyped-def]
    """Row ``r``: sum of ``log2 freq`` (fixed point) of ``symbols[r // repeat]`` under the coins.

    ``shift``: as for :func:`fixed_counts` (logits still in a float accumulator).
    ``prec`` at most :data:`~bitsback_core.portable.coins.MAX_COIN_PREC`.
    """
    values = logits if shift > 0 else np.asarray(logits, dtype=np.int64)
    return _sum_log2_logits(
        np.ascontiguousarray(values), np.int64(shift), np.ascontiguousarray(symbols),
        np.int64(repeat), np.int64(prec), tuple(coin_tables(int(prec))),
    )  # fmt: skip


def sum_log2_from_counts(count_one, symbols, repeat, prec):  # type: ignore[no-untyped-def]
    """Like :func:`sum_log2_from_fixed_logits` for known counts of ones (each in ``[1, 2**prec - 1]``)."""
    counts = np.ascontiguousarray(count_one, dtype=np.int64)
    if counts.size and (counts.min() < 1 or counts.max() >= 1 << prec):
        raise ValueError(f"counts of ones must lie in [1, 2**{prec} - 1]")
    return _sum_log2_counts(
        counts, np.ascontiguousarray(symbols),
        np.int64(repeat), np.int64(prec), tuple(coin_tables(int(prec))),
    )  # fmt: skip
