"""Compiled integer kernels of the portable distributions (see :mod:`bitsback_core.portable`).

Each element is computed by one thread with integer operations only, so results do not
depend on the thread count, the CPU or numba being enabled.
"""

from __future__ import annotations

import numba
import numpy as np

from bitsback_core.portable.kernels import count_one, gaussian_start, table_args

__all__ = [
    "fixed_counts",
    "fixed_gaussian_cdf",
    "fixed_gaussian_ppf_interval",
    "fixed_gaussian_row_ppf",
    "sum_log2_from_counts",
    "sum_log2_from_fixed_logits",
]


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, parallel=True)
def _cdf(m, inv_s, idx, edges, n, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = m.shape[0]
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for e in numba.prange(size):
        s = gaussian_start(idx[e], n, m[e], inv_s[e], edges, prec, full, nd, nd_lo, nd_last)
        start[e] = s
        freq[e] = (
            gaussian_start(idx[e] + 1, n, m[e], inv_s[e], edges, prec, full, nd, nd_lo, nd_last) - s
        )
    return start, freq


@numba.njit(cache=True, parallel=True)
def _ppf_interval(m, inv_s, cf, edges, n, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = m.shape[0]
    sym = np.empty(size, dtype=np.int64)
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for e in numba.prange(size):
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


@numba.njit(cache=True)
def fixed_gaussian_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row program; params ``(mean, inv_std, edges, n, prec, full, ndtr values, lo, last)``."""
    m, inv_s, edges, n, prec, full, nd, nd_lo, nd_last = params
    return _search(m[c, j], inv_s[c, j], edges, n, prec, full, cf, nd, nd_lo, nd_last)


@numba.njit(cache=True, parallel=True)
def _counts(logits, prec, logit_bits, sig, sig_lo, sig_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = logits.shape
    out = np.empty((rows, cols), dtype=np.int64)
    for r in numba.prange(rows):
        for c in range(cols):
            out[r, c] = count_one(logits[r, c], prec, sig, sig_lo, sig_last, logit_bits)
    return out


def fixed_counts(logits: np.ndarray, prec: int, logit_bits: int, sigmoid: tuple) -> np.ndarray:  # type: ignore[type-arg]
    """Counts of ones of coins with fixed-point ``logits`` (2-D int64)."""
    return _counts(
        np.ascontiguousarray(logits, dtype=np.int64), np.int64(prec), np.int64(logit_bits), *sigmoid
    )


@numba.njit(cache=True, parallel=True)
def _sum_log2(values, from_logits, symbols, repeat, prec, logit_bits, log2, sig, sig_lo, sig_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row sums of ``log2 freq``: ``values`` are fixed-point logits, or counts of ones if not ``from_logits``."""
    rows, cols = values.shape
    total = np.int64(1) << prec
    out = np.empty(rows, dtype=np.int64)
    for r in numba.prange(rows):
        x = symbols[r // repeat]
        acc = np.int64(0)
        for c in range(cols):
            c1 = (
                count_one(values[r, c], prec, sig, sig_lo, sig_last, logit_bits)
                if from_logits
                else values[r, c]
            )
            acc += log2[c1] if x[c] != 0 else log2[total - c1]
        out[r] = acc
    return out


def sum_log2_from_fixed_logits(logits, symbols, repeat, prec, logit_bits, log2, sigmoid):  # type: ignore[no-untyped-def]
    """Row ``r``: sum of ``log2 freq`` (fixed point) of ``symbols[r // repeat]`` under the coins."""
    return _sum_log2(
        np.ascontiguousarray(logits, dtype=np.int64), True, np.ascontiguousarray(symbols), np.int64(repeat),
        np.int64(prec), np.int64(logit_bits), log2, *sigmoid,
    )  # fmt: skip


def sum_log2_from_counts(count_one, symbols, repeat, prec, log2):  # type: ignore[no-untyped-def]
    """Like :func:`sum_log2_from_fixed_logits` for known counts of ones (the table goes unread)."""
    return _sum_log2(
        np.ascontiguousarray(count_one, dtype=np.int64), False, np.ascontiguousarray(symbols), np.int64(repeat),
        np.int64(prec), np.int64(0), log2, *table_args("sigmoid"),
    )  # fmt: skip
