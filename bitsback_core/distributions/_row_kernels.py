"""Compiled per-element searches ("row programs") of the table-like distributions.

A row program lets :mod:`bitsback_core.ans.codec` pop a whole ``(chains, n)`` vector in
one compiled loop over the lane rows instead of a numpy round trip per row (see
:meth:`QuantizedDistribution.row_program`). Each function maps ``(params, chain, element,
cumfreq)`` to ``(symbol, start, freq)`` with exactly the integers of the distribution's
numpy ``ppf`` and ``cdf``. Each is registered with its codec loop, a kernel beside it
(:func:`~bitsback_core.ans.register_rows_kernel`).
"""

from __future__ import annotations

import numba
import numpy as np

from bitsback_core.ans import register_rows_kernel, run_rows

__all__ = ["bernoulli_row_ppf", "categorical_row_ppf", "uniform_row_ppf"]


@numba.njit(nogil=True, cache=True)
def bernoulli_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Symbol 0 owns ``[0, total - c1)``, symbol 1 the rest; params ``(count_one, total)``."""
    count_one, total = params
    zero = total - count_one[c, j]
    if cf < zero:
        return np.int64(0), np.int64(0), zero
    return np.int64(1), zero, count_one[c, j]


@numba.njit(nogil=True, cache=True)
def uniform_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The first ``r`` symbols are ``q + 1`` wide, the rest ``q``; params ``(q, r)``."""
    q, r = params
    wide = r * (q + 1)
    if cf < wide:
        s = cf // (q + 1)
        return s, s * (q + 1), q + 1
    s = r + (cf - wide) // q
    return s, s * q + r, q


@numba.njit(nogil=True, cache=True)
def categorical_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Largest ``k < n`` with ``starts[c, j, k] <= cf`` (binary search); params ``(starts,)``."""
    starts = params[0]
    lo, hi = 0, starts.shape[2] - 2  # the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[c, j, mid] <= cf:
            lo = mid
        else:
            hi = mid - 1
    return np.int64(lo), starts[c, j, lo], starts[c, j, lo + 1] - starts[c, j, lo]


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_bernoulli(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return run_rows(m, job, bernoulli_row_ppf, params)


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_uniform(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return run_rows(m, job, uniform_row_ppf, params)


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_categorical(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return run_rows(m, job, categorical_row_ppf, params)


register_rows_kernel(bernoulli_row_ppf, _pop_bernoulli)
register_rows_kernel(uniform_row_ppf, _pop_uniform)
register_rows_kernel(categorical_row_ppf, _pop_categorical)
