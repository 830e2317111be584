"""Uniform distribution over ``0 .. n - 1`` for any ``n``, plus the checks the siblings share.

Bits-back coding pushes and pops latent indices under a uniform prior, and the alphabet
size need not be a power of two, so ``2 ** prec`` is split as evenly as integers allow:
the first ``r`` symbols get ``q + 1`` and the rest ``q``, where ``q, r = divmod(2**prec, n)``.
Start, frequency and inverse all have closed forms, so no table is ever built.

The module also hosts the small validation helpers used by every distribution in this
package (``check_prec``, ``as_index_array``, ``sub_batch_shape``), so that all of them
reject bad input with the same clear messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitsback_core.distributions._row_kernels import uniform_row_ppf
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.portable.kernels import log2_of

__all__ = ["Uniform", "MAX_PREC", "check_prec", "as_index_array", "sub_batch_shape"]

#: Largest supported precision: frequencies and starts stay exact in int64 and float64.
MAX_PREC = 32


def check_prec(prec: Any) -> int:
    """Return ``prec`` as an ``int`` after checking it lies in ``[1, MAX_PREC]``."""
    if isinstance(prec, bool) or not isinstance(prec, (int, np.integer)):
        raise ValueError(f"prec must be an integer in [1, {MAX_PREC}], got {prec!r}")
    prec = int(prec)
    if not 1 <= prec <= MAX_PREC:
        raise ValueError(f"prec must be in [1, {MAX_PREC}], got {prec}")
    return prec


def as_index_array(values: Any, name: str, upper: int, batch_shape: tuple[int, ...]) -> np.ndarray:
    """Check integer ``values`` lie in ``[0, upper)`` and broadcast them against ``batch_shape``.

    Used for both symbols (``upper = num_symbols``) and cumulative frequencies
    (``upper = 2 ** prec``): an out-of-range value would otherwise silently pick a wrong
    interval and corrupt the message far from the actual mistake.
    """
    arr = np.asarray(values)
    if arr.dtype.kind not in "biu":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    try:
        shape = np.broadcast_shapes(arr.shape, batch_shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {arr.shape} does not broadcast against batch shape {batch_shape}"
        ) from None
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper}), got values in [{arr.min()}, {arr.max()}]"
        )
    return np.broadcast_to(arr, shape)


def sub_batch_shape(batch_shape: tuple[int, ...], key: Any) -> tuple[int, ...]:
    """Batch shape left after indexing a batch of shape ``batch_shape`` with ``key``.

    Indexes a zero-stride view, so it costs nothing however large the batch is, and numpy
    raises its usual ``IndexError`` for keys that do not fit the batch.
    """
    return np.broadcast_to(np.zeros((), dtype=bool), batch_shape)[key].shape


def _check_batch_shape(batch_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in batch_shape)
    except TypeError:
        raise ValueError(f"batch_shape must be a tuple of ints, got {batch_shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"batch_shape must have non-negative sizes, got {shape}")
    return shape


class Uniform(QuantizedDistribution):
    """A batch of identical uniform distributions over ``num_symbols`` symbols."""

    def __init__(self, num_symbols: int, prec: int, batch_shape: tuple[int, ...] = ()) -> None:
        self.prec = check_prec(prec)
        total = 1 << self.prec
        if isinstance(num_symbols, bool) or not isinstance(num_symbols, (int, np.integer)):
            raise ValueError(f"num_symbols must be an integer, got {num_symbols!r}")
        if not 1 <= int(num_symbols) <= total:
            raise ValueError(
                f"num_symbols must be in [1, 2**prec = {total}] so every symbol gets a "
                f"frequency >= 1, got {num_symbols}"
            )
        self._n = int(num_symbols)
        self._shape = _check_batch_shape(batch_shape)
        # Widths: the first ``_r`` symbols are one wider than the rest.
        self._q, self._r = divmod(total, self._n)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def num_symbols(self) -> int:
        return self._n

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = as_index_array(symbols, "symbols", self._n, self._shape)
        start = s * self._q + np.minimum(s, self._r)
        freq = self._q + (s < self._r).astype(np.int64)
        return start, freq

    def sum_log2_rows(self, symbols: np.ndarray, repeat: int = 1) -> np.ndarray:
        """The interface's row sums, counted: a symbol's frequency is ``q + 1`` below ``r``
        and ``q`` from there, so a row's sum is two counts times two logarithms, the same
        integers without a frequency per symbol (the prior term of every importance weight).
        """
        s = np.asarray(symbols)
        if s.ndim < 2 or (s.shape[0] * repeat, *s.shape[1:]) != self._shape:
            return super().sum_log2_rows(symbols, repeat)  # broadcasting: the general path
        s = as_index_array(s, "symbols", self._n, s.shape)
        wide = np.repeat((s < self._r).sum(axis=-1, dtype=np.int64), repeat, axis=0)
        log_q, log_wide = (int(v) for v in log2_of(np.array([self._q, self._q + 1])))
        return wide * log_wide + (s.shape[-1] - wide) * log_q

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        cf = as_index_array(cumfreq, "cumfreq", 1 << self.prec, self._shape)
        wide = self._r * (self._q + 1)  # the wider symbols cover [0, wide)
        return np.where(cf < wide, cf // (self._q + 1), self._r + (cf - wide) // self._q)

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        return uniform_row_ppf, (np.int64(self._q), np.int64(self._r))

    def __getitem__(self, key: Any) -> Uniform:
        return Uniform(self._n, self.prec, sub_batch_shape(self._shape, key))

    def __repr__(self) -> str:
        return f"Uniform(num_symbols={self._n}, prec={self.prec}, batch_shape={self._shape})"
