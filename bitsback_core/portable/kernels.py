"""Integer kernels of portable arithmetic (numba, integers only).

Every function here takes and returns int64 and uses only integer operations (``+``,
``-``, ``*``, arithmetic shifts, comparisons), whose results are the same on every machine
and with numba disabled (``NUMBA_DISABLE_JIT=1`` runs them as Python on numpy integers).
Bounds are stated where products could approach ``2**63``; callers keep to them.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from bitsback_core.portable.formats import (
    ACT_BITS,
    LATENT_BITS,
    LOG2_BITS,
    PROB_BITS,
    TABLE_STEP_BITS,
    WEIGHT_BITS,
)
from bitsback_core.portable.tables import FunctionTable, lookup, table

__all__ = [
    "LOG2_OF_ZERO",
    "T_BITS",
    "count_one",
    "exp2_weights",
    "gaussian_start",
    "ilookup",
    "log2_fixed",
    "log2_of",
    "log2_table",
    "rescale_layer",
    "sum_log2_of",
    "table_args",
    "tanh_layer",
]

#: Stand-in for log2(0) (a zero frequency): very negative, yet 4,000 of them still sum in int64.
LOG2_OF_ZERO = -(np.int64(1) << np.int64(48))
#: Fraction bits of the normal-CDF argument ``t = (edge - mean) / std``.
T_BITS = 16
_MANTISSA_BITS = 30


def table_args(name: str) -> tuple[np.ndarray, np.int64, np.int64]:
    """``(values, lo_steps, last)`` of a table, the form the kernels take."""
    tab: FunctionTable = table(name)
    return tab.values, np.int64(tab.lo_steps), np.int64(tab.last)


@numba.njit(nogil=True, cache=True, inline="always")
def ilookup(values, lo_steps, last, x, x_bits):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Scalar :func:`bitsback_core.portable.tables.lookup`: interpolated ``f(x)``, ``x`` with ``x_bits``."""
    k = x_bits - TABLE_STEP_BITS
    u = np.int64(x) - (lo_steps << k)
    top = last << k
    if u < 0:
        u = np.int64(0)
    elif u > top:
        u = top
    i = u >> k
    r = u - (i << k)
    lo = values[i]
    return lo + (((values[i + 1] - lo) * r) >> k)


@numba.njit(nogil=True, cache=True, inline="always")
def count_one(logit, prec, sig, sig_lo, sig_last, logit_bits):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """A coin's count of ones: ``clip(round(sigmoid(logit) * 2**prec), 1, 2**prec - 1)``.

    ``sigmoid`` comes from the table (``PROB_BITS``); ``s << prec`` stays below ``2**63``
    for ``prec <= 30``.
    """
    s = ilookup(sig, sig_lo, sig_last, logit, logit_bits)
    total = np.int64(1) << prec
    c = ((s << prec) + (np.int64(1) << (PROB_BITS - 1))) >> PROB_BITS
    if c < 1:
        c = np.int64(1)
    elif c > total - 1:
        c = total - 1
    return c


@numba.njit(nogil=True, cache=True, inline="always")
def _round_shift(a, d):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Fixed point ``a`` with ``d`` fewer fraction bits (round half up; ``d < 0`` adds bits)."""
    if d > 0:
        return (a + (np.int64(1) << (d - 1))) >> d
    return a << (-d)


@numba.njit(nogil=True, cache=True)
def tanh_layer(acc, d, out, narrow, values, lo, last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Hidden activations from a float accumulator holding exact integers (2-D), into ``out``.

    ``tanh(acc)`` with the pre-activation rescaled by ``d`` bits to ``ACT_BITS``, the
    table read as :func:`ilookup` does, and the result rescaled by ``narrow`` more bits
    (round half up; 0 keeps ``ACT_BITS``). ``out`` (float64 or float32, the next
    product's operand type) receives integers that type holds exactly (below ``2**17``).
    One pass instead of a dozen tensor operations: the portable network's CPU path.
    Serial, like every kernel here: a parallel region's barrier costs more than it saves
    on shared cores (``bitsback_core.distributions._portable_kernels``).
    """
    rows, cols = acc.shape
    for r in range(rows):
        for c in range(cols):
            pre = _round_shift(np.int64(acc[r, c]), d)
            h = _round_shift(ilookup(values, lo, last, pre, ACT_BITS), narrow)
            out[r, c] = h
    return out


@numba.njit(nogil=True, cache=True)
def rescale_layer(acc, d):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """int64 outputs from a float (64 or 32) accumulator of exact integers, rescaled by ``d`` bits."""
    rows, cols = acc.shape
    out = np.empty((rows, cols), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            out[r, c] = _round_shift(np.int64(acc[r, c]), d)
    return out


@numba.njit(nogil=True, cache=True)
def log2_fixed(f, lg, lg_lo, lg_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``log2(f)`` with ``LOG2_BITS`` fraction bits for an integer ``f >= 1`` (``LOG2_OF_ZERO`` for 0).

    ``f = 2**e * m`` with ``m`` in ``[1, 2)`` held with 30 fraction bits; ``log2 m`` from
    the table.
    """
    if f <= 0:
        return LOG2_OF_ZERO
    e = np.int64(0)
    v = np.int64(f)
    while v > 1:
        v >>= 1
        e += 1
    if e >= _MANTISSA_BITS:
        m = np.int64(f) >> (e - _MANTISSA_BITS)
    else:
        m = np.int64(f) << (_MANTISSA_BITS - e)
    return (e << LOG2_BITS) + ilookup(lg, lg_lo, lg_last, m, _MANTISSA_BITS)


@numba.njit(nogil=True, cache=True)
def _log2_range(n, lg, lg_lo, lg_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    out = np.empty(n, dtype=np.int64)
    for f in range(n):
        out[f] = log2_fixed(np.int64(f), lg, lg_lo, lg_last)
    return out


@numba.njit(nogil=True, cache=True)
def _log2_many(f, lg, lg_lo, lg_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    out = np.empty(f.shape[0], dtype=np.int64)
    for e in range(f.shape[0]):
        out[e] = log2_fixed(f[e], lg, lg_lo, lg_last)
    return out


def log2_of(freq: np.ndarray) -> np.ndarray:
    """:func:`log2_fixed` of every element of an integer array (same shape)."""
    f = np.asarray(freq, dtype=np.int64)
    return _log2_many(np.ascontiguousarray(f).reshape(-1), *table_args("log2")).reshape(f.shape)


#: Precisions up to this score frequencies through :func:`log2_table` (512 KiB at most).
_SUM_TABLE_MAX_PREC = 16


def sum_log2_of(freq: np.ndarray, prec: int) -> np.ndarray:
    """``log2_of(freq).sum(axis=-1)`` for frequencies of a ``prec``-bit distribution.

    Frequencies lie in ``[0, 2**prec]``, so for small ``prec`` each is a read of the cached
    :func:`log2_table` (the same integers, tested) instead of a normalize-and-interpolate.
    """
    f = np.asarray(freq)
    if prec <= _SUM_TABLE_MAX_PREC and not (f.size and f.min() < 0):  # negatives would wrap
        return log2_table(prec)[f].sum(axis=-1)
    return log2_of(f).sum(axis=-1)


def exp2_weights(log2w: np.ndarray) -> np.ndarray:
    """Integer weights ``2**(log2w - max)`` along the last axis, ``WEIGHT_BITS`` fraction bits.

    ``log2w`` holds fixed-point base-2 logs (``LOG2_BITS``). The largest gets exactly
    ``2**WEIGHT_BITS``; the others ``floor(2**-d * 2**WEIGHT_BITS)`` with ``2**-frac(d)``
    from the ``exp2`` table, so the softmax of importance weights is an integer function.
    """
    lw = np.asarray(log2w, dtype=np.int64)
    d = lw.max(axis=-1, keepdims=True) - lw
    whole = d >> np.int64(LOG2_BITS)
    frac = d - (whole << np.int64(LOG2_BITS))
    mantissa = lookup(table("exp2"), -frac, LOG2_BITS)  # in (2**31, 2**32]
    shift = np.minimum(whole + (PROB_BITS - WEIGHT_BITS), 63)
    return mantissa >> shift


@functools.lru_cache(maxsize=4)
def log2_table(prec: int) -> np.ndarray:
    """``log2_fixed(f)`` for every frequency ``f`` in ``[0, 2**prec]`` (read-only)."""
    if not 0 <= prec <= 24:
        raise ValueError(f"log2_table covers precisions up to 24, got {prec}")
    out = _log2_range(np.int64((1 << prec) + 1), *table_args("log2"))
    out.setflags(write=False)
    return out


@numba.njit(nogil=True, cache=True, inline="always")
def gaussian_start(i, n, m, inv_s, edges, prec, full, nd, nd_lo, nd_last):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Start of bucket ``i`` (of ``n``) under N(mean, std), all in integers.

    ``t = (edge - mean) * (1 / std)`` with ``T_BITS`` fraction bits (edges and mean at
    ``LATENT_BITS``, ``inv_s`` at ``LATENT_BITS``; the callers clamp ``|edge - mean| <
    2**27`` and ``inv_s < 2**34``, so the product stays below ``2**61``); ``F = ndtr(t)``
    from the table; ``start = floor(F * 2**prec)`` or, with full support,
    ``floor(F * (2**prec - n)) + i``. Non-decreasing in ``i`` (strictly with full support).
    """
    total = np.int64(1) << prec
    if i <= 0:
        return np.int64(0)
    if i >= n:
        return total
    t = ((edges[i - 1] - m) * inv_s) >> (2 * LATENT_BITS - T_BITS)
    cdf = ilookup(nd, nd_lo, nd_last, t, T_BITS)
    if full:
        return ((cdf * (total - n)) >> PROB_BITS) + i
    return (cdf << prec) >> PROB_BITS
