"""Compiled (numba) kernels for the hot elementwise paths of the distributions.

Why numba: the importance weights of BB-IS(50) quantize and score ``50 * 784`` Bernoulli
pixels per image; in numpy that is a chain of full-array passes (sigmoid, scale, round,
clip, select, log, sum), memory-bound and single-threaded. One fused pass per row is
several times faster and, because every row is computed by one thread in a fixed order,
the result does not depend on the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["counts_from_logits", "sum_log_prob_from_logits", "sum_log_prob_rows"]


@numba.njit(cache=True, fastmath=False, inline="always")
def _count(logit: float, total: float) -> np.int64:  # pragma: no cover - compiled
    """The one rule for a coin's count of ones: clip(rint(sigmoid(logit) * total), 1, total - 1)."""
    p = 1.0 / (1.0 + math.exp(-logit))
    v = np.rint(p * total)
    if v < 1.0:
        v = 1.0
    elif v > total - 1.0:
        v = total - 1.0
    return np.int64(v)


@numba.njit(parallel=True, cache=True, fastmath=False)
def _counts_from_logits(logits: np.ndarray, total: float) -> np.ndarray:  # pragma: no cover - compiled
    rows, cols = logits.shape
    out = np.empty((rows, cols), dtype=np.int64)
    for r in numba.prange(rows):
        for c in range(cols):
            out[r, c] = _count(np.float64(logits[r, c]), total)
    return out


@numba.njit(parallel=True, cache=True, fastmath=False)
def _sum_log_prob_from_logits(
    logits: np.ndarray, symbols: np.ndarray, repeat: int, total: int, table: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    rows, cols = logits.shape
    out = np.empty(rows, dtype=np.float64)
    for r in numba.prange(rows):
        x = symbols[r // repeat]
        acc = 0.0
        for c in range(cols):
            c1 = _count(np.float64(logits[r, c]), np.float64(total))
            acc += table[c1] if x[c] != 0 else table[total - c1]
        out[r] = acc
    return out


@numba.njit(parallel=True, cache=True, fastmath=False)
def _sum_log_prob_rows(
    count_one: np.ndarray, symbols: np.ndarray, repeat: int, total: int, table: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    rows, cols = count_one.shape
    out = np.empty(rows, dtype=np.float64)
    for r in numba.prange(rows):
        x = symbols[r // repeat]
        acc = 0.0
        for c in range(cols):
            c1 = count_one[r, c]
            acc += table[c1] if x[c] != 0 else table[total - c1]
        out[r] = acc
    return out


def counts_from_logits(logits: np.ndarray, prec: int) -> np.ndarray:
    """``clip(rint(sigmoid(logit) * 2**prec), 1, 2**prec - 1)`` for a 2-D logit array."""
    return _counts_from_logits(np.ascontiguousarray(logits), float(1 << prec))


def sum_log_prob_rows(count_one: np.ndarray, symbols: np.ndarray, repeat: int, prec: int, table: np.ndarray) -> np.ndarray:
    """Row ``r``: sum of ``log P(symbols[r // repeat])`` under the coins ``count_one[r]``."""
    return _sum_log_prob_rows(
        np.ascontiguousarray(count_one), np.ascontiguousarray(symbols), int(repeat), 1 << prec, table
    )


def sum_log_prob_from_logits(logits: np.ndarray, symbols: np.ndarray, repeat: int, prec: int, table: np.ndarray) -> np.ndarray:
    """Like :func:`sum_log_prob_rows` for the coins ``counts_from_logits(logits)``, in one pass."""
    return _sum_log_prob_from_logits(
        np.ascontiguousarray(logits), np.ascontiguousarray(symbols), int(repeat), 1 << prec, table
    )
