"""Quantized categorical distributions over ``n`` symbols.

Quantization works on the cumulative distribution rather than on each probability:
with ``C_k = P(X < k)`` and ``K = 2**prec - n``, the interval of symbol ``k`` starts at
``floor(C_k * K) + k``. Why this scheme:

* it is exact by construction: ``start(0) = 0`` and ``start(n) = K + n = 2**prec``, so no
  remainder has to be patched onto some symbol afterwards;
* every symbol gets ``freq >= 1`` (the ``+ k`` term), and a zero-probability symbol gets
  exactly 1;
* ``C_k`` is a running sum of non-negative floats divided by a positive total, and float
  rounding is monotone, so the starts can never decrease whatever the rounding does;
* it is a deterministic function of the float64 probabilities (sequential cumulative sum).

Each symbol's frequency differs from ``p_k * K`` by less than one count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitsback_core.distributions._row_kernels import categorical_row_ppf
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, check_prec

__all__ = ["Categorical"]


class Categorical(QuantizedDistribution):
    """A batch of categorical distributions; ``probs`` has shape ``(*batch, n)``.

    ``probs`` need not sum to one: each row is normalized by its own sum.
    """

    # Declared, not inferred from ``__init__``'s first assignment: numpy's stubs type that
    # ``np.empty`` with a fixed-length shape, which would make ``shape[-1]`` out of range.
    _starts: np.ndarray

    def __init__(self, probs: np.ndarray, prec: int) -> None:
        self.prec = check_prec(prec)
        p = np.array(probs, dtype=np.float64)
        if p.ndim < 1 or p.shape[-1] < 1:
            raise ValueError(
                f"Categorical probs must have shape (*batch, n) with n >= 1, got {p.shape}"
            )
        n = p.shape[-1]
        total = 1 << self.prec
        if n > total:
            raise ValueError(
                f"Categorical with {n} symbols needs 2**prec >= {n} so every symbol gets a "
                f"frequency >= 1, but prec={self.prec} gives {total}"
            )
        if not np.all(np.isfinite(p)) or np.any(p < 0.0):
            raise ValueError("Categorical probs must be finite and non-negative")
        with np.errstate(over="ignore"):  # an overflowing sum is rejected just below
            cum = np.cumsum(p, axis=-1)
        row_sum = cum[..., -1:]
        if not np.all(np.isfinite(row_sum)) or np.any(row_sum <= 0.0):
            raise ValueError("every row of Categorical probs must have a finite, positive sum")
        # C_k for k = 1 .. n-1 (C_0 = 0 and C_n = 1 are fixed exactly below).
        below = np.clip(cum[..., :-1] / row_sum, 0.0, 1.0)
        inner = np.floor(below * float(total - n)).astype(np.int64) + np.arange(1, n)
        starts = np.empty(p.shape[:-1] + (n + 1,), dtype=np.int64)
        starts[..., 0] = 0
        starts[..., 1:n] = inner
        starts[..., n] = total
        self._starts = starts

    @classmethod
    def from_weights(cls, weights: np.ndarray, prec: int) -> Categorical:
        """The same quantization from non-negative *integer* weights, in integers only.

        ``start(k) = floor(W_k * K / W) + k`` with ``W_k`` the running sum and ``W`` the
        row total: exact, so the table is the same on every machine (the portable path
        of the particle-index distribution).
        """
        prec = check_prec(prec)
        w = np.asarray(weights)
        if w.dtype.kind not in "iu" or w.ndim < 1 or w.shape[-1] < 1:
            raise ValueError(
                f"Categorical.from_weights needs integer weights (*batch, n), got {w.dtype} {w.shape}"
            )
        w = w.astype(np.int64)
        n, total = w.shape[-1], 1 << prec
        if n > total:
            raise ValueError(f"Categorical with {n} symbols needs 2**prec >= {n}, but prec={prec}")
        if w.size and w.min() < 0:
            raise ValueError("Categorical weights must be non-negative")
        if w.size and int(w.max()) * n >= 2**63:
            raise ValueError("Categorical weights too large for exact int64 quantization")
        cum = np.cumsum(w, axis=-1)
        row = cum[..., -1:]
        if np.any(row <= 0):
            raise ValueError("every row of Categorical weights must have a positive sum")
        if int(row.max()) * (total - n) >= 2**63:
            raise ValueError("Categorical weights too large for exact int64 quantization")
        starts = np.empty(w.shape[:-1] + (n + 1,), dtype=np.int64)
        starts[..., 0] = 0
        starts[..., 1:n] = cum[..., :-1] * (total - n) // row + np.arange(1, n)
        starts[..., n] = total
        return cls._from_starts(starts, prec)

    @classmethod
    def _from_starts(cls, starts: np.ndarray, prec: int) -> Categorical:
        """Wrap an existing start table (used by slicing: no re-quantization)."""
        obj = cls.__new__(cls)
        obj.prec = prec
        obj._starts = starts
        return obj

    @property
    def starts(self) -> np.ndarray:
        """Start table of shape ``(*batch, n + 1)``; the last column is ``2**prec``."""
        return self._starts

    @property
    def freqs(self) -> np.ndarray:
        """Frequency table of shape ``(*batch, n)``; each row sums to ``2**prec``."""
        return np.diff(self._starts, axis=-1)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._starts.shape[:-1]

    @property
    def num_symbols(self) -> int:
        return self._starts.shape[-1] - 1

    def _table(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self._starts, shape + (self._starts.shape[-1],))

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = as_index_array(symbols, "symbols", self.num_symbols, self.batch_shape)
        table = self._table(s.shape)
        start = np.take_along_axis(table, s[..., None], axis=-1)[..., 0]
        end = np.take_along_axis(table, s[..., None] + 1, axis=-1)[..., 0]
        return start, end - start

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        cf = as_index_array(cumfreq, "cumfreq", 1 << self.prec, self.batch_shape)
        # The symbol is the number of interval starts after 0 that are <= cf.
        inner = self._table(cf.shape)[..., 1:-1]
        return np.count_nonzero(inner <= cf[..., None], axis=-1).astype(np.int64)

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        if self._starts.ndim != 3:
            return None
        return categorical_row_ppf, (self._starts.astype(np.int64, copy=False),)

    def __getitem__(self, key: Any) -> Categorical:
        # Move the symbol axis to the front so ``key`` (Ellipsis included) only ever
        # addresses batch dimensions.
        parts = key if isinstance(key, tuple) else (key,)
        if all(_is_basic(k) for k in parts):
            moved = np.moveaxis(self._starts, -1, 0)[(slice(None),) + parts]
            return Categorical._from_starts(np.moveaxis(moved, 0, -1), self.prec)
        # Advanced indexing may reorder dimensions: select rows through flat indices.
        rows = np.arange(int(np.prod(self.batch_shape)), dtype=np.int64)
        picked = rows.reshape(self.batch_shape)[key]
        flat = self._starts.reshape(-1, self._starts.shape[-1])
        return Categorical._from_starts(flat[picked], self.prec)

    def __repr__(self) -> str:
        return (
            f"Categorical(batch_shape={self.batch_shape}, num_symbols={self.num_symbols}, "
            f"prec={self.prec})"
        )


def _is_basic(k: Any) -> bool:
    """True for the parts of a numpy basic index (they keep dimension order)."""
    return (
        k is None
        or k is Ellipsis
        or isinstance(k, slice)
        or (isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)))
    )
