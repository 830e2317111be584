"""Compiled (numba) bucket search for :class:`~bitsback_core.distributions.gaussian.DiscretizedGaussian`.

Why: popping BB-IS(50) latents asks for ``ppf_interval`` on ``chains x lanes`` elements per
lane row, 40 rows per image. In numpy every row is some thirty whole-array passes (a guess,
a stacked ``start`` of two candidates, comparisons, fix-ups), so on rows of a few thousand
elements the per-pass overhead dominates. One compiled pass per element does the guess, the
two ``start`` evaluations and any fix-up at once, on all cores.

Exactness: the kernels evaluate the *same* floating-point expression as the numpy
definition of ``start`` (difference, division, rounding to the ``2**-40`` grid, scipy's
``ndtr``, floor), operation by operation and without fast-math, so they return the same
integers; the tests compare them with a numpy reference on edge cases and random inputs.
scipy's own ``ndtr`` and ``ndtri`` are called through their C entry points in
``scipy.special.cython_special`` (passed in as first-class functions, which keeps the
compiled kernels cacheable). Each element is computed by one thread, so the result does
not depend on the thread count.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable

import numba
import numpy as np
import scipy.special
from numba.extending import get_cython_function_address

from bitsback_core.ans import register_rows_kernel, run_rows

__all__ = [
    "Z_GRID",
    "gaussian_cdf",
    "gaussian_ppf_interval",
    "gaussian_row_params",
    "gaussian_row_ppf",
]

#: Arguments of ndtr are rounded to multiples of this (see ``gaussian.py``).
Z_GRID = 2.0**-40

_DOUBLE_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)


def _special(
    names: tuple[str, ...], reference: Callable[[np.ndarray], np.ndarray], probes: np.ndarray
) -> object:
    """scipy's C implementation of a real special function, checked against its ufunc.

    cython_special exports fused functions under mangled names (``__pyx_fuse_1ndtr`` is the
    ``double`` variant in scipy 1.x); the check makes a renamed or different export fail
    loudly at import instead of coding with a different function.
    """
    for name in names:
        try:
            fn = _DOUBLE_FN(get_cython_function_address("scipy.special.cython_special", name))
        except (ValueError, AttributeError):
            continue
        values = np.array([fn(float(p)) for p in probes])
        expected = reference(probes)
        if np.array_equal(values, expected, equal_nan=True):
            return fn
    raise ImportError(
        f"scipy.special.cython_special has no real {names[-1]} matching scipy.special.{names[-1]}"
    )


_NDTR = _special(
    ("__pyx_fuse_1ndtr", "ndtr"),
    scipy.special.ndtr,
    np.array([-np.inf, -40.0, -8.5, -1.0, -1e-300, 0.0, 0.3, 0.5, 1.0, 7.25, 38.0, np.inf]),
)
_NDTRI = _special(
    ("ndtri", "__pyx_fuse_1ndtri"),
    scipy.special.ndtri,
    np.array([1e-300, 1e-20, 0.01, 0.135, 0.3, 0.5, 0.7, 0.8646, 0.99, 1.0 - 2.0**-53]),
)


@numba.njit(nogil=True, cache=True, inline="always")
def _start(i, m, s, edges, total, spare, full, ndtr):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``start(i)`` of one element: ``floor(ndtr(grid((e_i - m) / s)) * total)`` (or the full-support form)."""
    t = (edges[i] - m) / s
    t = np.rint(t / Z_GRID) * Z_GRID
    mass_below = ndtr(t)
    if full:
        return np.int64(math.floor(mass_below * spare)) + i
    return np.int64(math.floor(mass_below * total))


@numba.njit(nogil=True, cache=True, inline="always")
def _bucket_of(z, edges, lookup, lo, scale):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The bucket ``i`` with ``e_i <= z < e_{i+1}``: a table lookup, then a short walk up."""
    n = edges.shape[0] - 1
    t = (z - lo) * scale
    if not t >= 0.0:  # below the table (or NaN)
        return 0
    if t >= lookup.shape[0]:
        i = lookup[lookup.shape[0] - 1]
    else:
        i = lookup[np.int64(t)]
    while i < n - 1 and edges[i + 1] <= z:
        i += 1
    return i


@numba.njit(nogil=True, cache=True, inline="always")
def _search(m, s, c, tables):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``(bucket, start, freq)`` holding cumulative frequency ``c`` for N(m, s); ``tables``: :func:`search_tables`."""
    edges, lookup, lookup_lo, lookup_scale, quantiles, total, spare, full, ndtr, ndtri = tables
    n = edges.shape[0] - 1
    # Guess: the prior bucket holding the Gaussian quantile of c; exact starts check it.
    if quantiles.shape[0]:
        z = m + s * quantiles[c]
    else:
        z = m + s * ndtri((np.float64(c) + 0.5) / total)
    i = _bucket_of(z, edges, lookup, lookup_lo, lookup_scale)
    here = _start(i, m, s, edges, total, spare, full, ndtr)
    after = _start(i + 1, m, s, edges, total, spare, full, ndtr)
    steps = 0
    while not here <= c < after:
        steps += 1
        if steps > 3:
            # Far from the guess (flat tails, runs of empty buckets): bisect.
            i = 0
            bit = 1
            while bit < n:
                bit <<= 1
            bit >>= 1
            while bit > 0:
                mid = i + bit
                if mid < n and _start(mid, m, s, edges, total, spare, full, ndtr) <= c:
                    i = mid
                bit >>= 1
            here = _start(i, m, s, edges, total, spare, full, ndtr)
            after = _start(i + 1, m, s, edges, total, spare, full, ndtr)
            break
        if here > c:  # start(0) = 0 <= c, so i >= 1 here
            i -= 1
            after = here
            here = _start(i, m, s, edges, total, spare, full, ndtr)
        else:  # after <= c < start(n), so i + 1 <= n - 1
            i += 1
            here = after
            after = _start(i + 1, m, s, edges, total, spare, full, ndtr)
    return i, here, after - here


@numba.njit(nogil=True, parallel=True, cache=True)
def _ppf_interval(mean, std, cf, tables):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = cf.shape[0]
    sym = np.empty(size, dtype=np.int64)
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for k in numba.prange(size):
        sym[k], start[k], freq[k] = _search(mean[k], std[k], cf[k], tables)
    return sym, start, freq


@numba.njit(nogil=True, cache=True)
def gaussian_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row program of a ``(chains, n)`` DiscretizedGaussian; params ``(mean, std, *tables)``.

    Flat, not nested: numba's parallel loops refuse a nested tuple holding function pointers.
    """
    return _search(params[0][c, j], params[1][c, j], cf, params[2:])


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_gaussian(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return run_rows(m, job, gaussian_row_ppf, params)


register_rows_kernel(gaussian_row_ppf, _pop_gaussian)


@numba.njit(nogil=True, parallel=True, cache=True)
def _cdf(mean, std, idx, edges, prec, full, ndtr):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    size = idx.shape[0]
    n = edges.shape[0] - 1
    total = np.float64(np.int64(1) << prec)
    spare = np.float64((np.int64(1) << prec) - n)
    start = np.empty(size, dtype=np.int64)
    freq = np.empty(size, dtype=np.int64)
    for k in numba.prange(size):
        i = idx[k]
        here = _start(i, mean[k], std[k], edges, total, spare, full, ndtr)
        start[k] = here
        if i < n:
            freq[k] = _start(i + 1, mean[k], std[k], edges, total, spare, full, ndtr) - here
        else:
            freq[k] = 0
    return start, freq


def _flat(a: np.ndarray, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=dtype).reshape(-1)


#: Largest bucket lookup table (entries); beyond it the table gets coarser and the walk longer.
_MAX_LOOKUP = 1 << 18


@functools.lru_cache(maxsize=8)
def bucket_lookup(edges_key: bytes) -> tuple[np.ndarray, float, float]:
    """A table ``T`` with ``T[j]`` the bucket of ``lo + j / scale``, for :func:`_bucket_of`.

    The step is at most half the narrowest bucket, so the walk from ``T[j]`` to the bucket
    of ``z`` takes at most a step or two. Keyed by the edges' bytes (cached).
    """
    edges = np.frombuffer(edges_key, dtype=np.float64)
    n = edges.shape[0] - 1
    if n < 2:
        return np.zeros(1, dtype=np.int64), 0.0, 1.0
    interior = edges[1:n]
    lo = float(interior[0])
    width = float(np.min(np.diff(interior))) if n > 2 else 1.0
    span = float(interior[-1]) - lo
    scale = 2.0 / width
    if span * scale > _MAX_LOOKUP:
        scale = _MAX_LOOKUP / span
    points = lo + np.arange(int(span * scale) + 1, dtype=np.float64) / scale
    table = np.searchsorted(interior, points, side="right").astype(np.int64)
    return table, lo, scale


#: Precisions up to this get a table of the standard normal quantile of every ``cf`` (512 KiB at 16).
_QUANTILE_TABLE_MAX_PREC = 16
_NO_QUANTILES = np.zeros(0, dtype=np.float64)


@functools.lru_cache(maxsize=4)
def quantile_table(prec: int) -> np.ndarray:
    """``ndtri((cf + 0.5) / 2**prec)`` for every ``cf``: the guess's quantile as one lookup."""
    table = scipy.special.ndtri((np.arange(1 << prec, dtype=np.float64) + 0.5) / float(1 << prec))
    table.setflags(write=False)
    return table


def search_tables(edges: np.ndarray, prec: int, full_support: bool) -> tuple:
    """Everything :func:`_search` needs besides one element's mean, std and ``cf``."""
    lookup, lo, scale = bucket_lookup(edges.tobytes())
    n = edges.shape[0] - 1
    return (
        edges,
        lookup,
        lo,
        scale,
        quantile_table(prec) if prec <= _QUANTILE_TABLE_MAX_PREC else _NO_QUANTILES,
        float(1 << prec),
        float((1 << prec) - n),
        bool(full_support),
        _NDTR,
        _NDTRI,
    )


def gaussian_ppf_interval(
    mean: np.ndarray,
    std: np.ndarray,
    cf: np.ndarray,
    edges: np.ndarray,
    prec: int,
    full_support: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bucket, start and freq of each ``cf`` (all arrays broadcast to ``cf.shape``)."""
    shape = cf.shape
    sym, start, freq = _ppf_interval(
        _flat(mean, shape, np.float64),
        _flat(std, shape, np.float64),
        _flat(cf, shape, np.int64),
        search_tables(edges, prec, full_support),
    )
    return sym.reshape(shape), start.reshape(shape), freq.reshape(shape)


def gaussian_row_params(
    mean: np.ndarray, std: np.ndarray, edges: np.ndarray, prec: int, full_support: bool
) -> tuple:
    """The parameter tuple :func:`gaussian_row_ppf` reads, for 2-D ``mean`` and ``std``."""
    return (
        np.asarray(mean, dtype=np.float64),
        np.asarray(std, dtype=np.float64),
        *search_tables(edges, prec, full_support),
    )


def gaussian_cdf(
    mean: np.ndarray,
    std: np.ndarray,
    index: np.ndarray,
    edges: np.ndarray,
    prec: int,
    full_support: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(start(i), start(i + 1) - start(i))`` for bucket indices ``i`` in ``[0, N]`` (freq 0 at ``N``)."""
    shape = index.shape
    start, freq = _cdf(
        _flat(mean, shape, np.float64),
        _flat(std, shape, np.float64),
        _flat(index, shape, np.int64),
        edges,
        int(prec),
        bool(full_support),
        _NDTR,
    )
    return start.reshape(shape), freq.reshape(shape)
