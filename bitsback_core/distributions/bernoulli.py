"""Quantized Bernoulli distributions: the likelihood of binarized pixels.

The count of symbol 1 is ``clip(round(p * 2**prec), 1, 2**prec - 1)``. Multiplying a
float64 by a power of two is exact and ``np.rint`` is correctly rounded, so the count is a
pure function of the float64 probability: an encoder and a decoder that see the same
probabilities build bit-identical tables. The clip keeps both symbols codable even when
the model says a pixel is certain.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from bitsback_core.distributions._kernels import counts_from_logits
from bitsback_core.distributions._portable_kernels import (
    fixed_counts,
    sum_log2_from_counts,
    sum_log2_from_fixed_logits,
)
from bitsback_core.distributions._row_kernels import bernoulli_row_ppf
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, check_prec
from bitsback_core.portable.coins import MAX_COIN_PREC
from bitsback_core.portable.formats import LOGIT_BITS, MAX_PORTABLE_PREC
from bitsback_core.portable.kernels import table_args

__all__ = ["Bernoulli"]

#: Precisions up to this use a cached table of ``log(f / 2**prec)`` (8 MiB at most).
_LOG_TABLE_MAX_PREC = 20


@functools.lru_cache(maxsize=8)
def _log_table(prec: int) -> np.ndarray:
    with np.errstate(divide="ignore"):
        table = np.log(np.arange((1 << prec) + 1, dtype=np.float64)) - prec * math.log(2.0)
    table.setflags(write=False)
    return table


def _counts(p: np.ndarray, prec: int) -> np.ndarray:
    """``clip(rint(p * 2**prec), 1, 2**prec - 1)`` as int64, computed in place on ``p``."""
    total = float(1 << prec)
    p *= total
    np.rint(p, out=p)
    np.clip(p, 1.0, total - 1.0, out=p)
    return p.astype(np.int64)


class Bernoulli(QuantizedDistribution):
    """A batch of coins; symbol 0 owns ``[0, 2**prec - c1)`` and symbol 1 the rest."""

    # Each constructor sets exactly one source: counts, float logits or fixed-point logits
    # (counts are then filled from the logits on first use). Fixed-point logits are int64
    # (``_shift`` 0) or a float64 accumulator still ``_shift`` bits finer.
    _c1: np.ndarray | None
    _logits: np.ndarray | None
    _fixed: np.ndarray | None
    _shift: int = 0

    def __init__(self, probs: np.ndarray, prec: int) -> None:
        self.prec = check_prec(prec)
        # float32 network outputs are widened first, so the rounding happens in float64.
        p = np.array(probs, dtype=np.float64)
        low, high = (p.min(), p.max()) if p.size else (0.0, 0.0)
        if not (0.0 <= low and high <= 1.0):  # NaN fails both comparisons
            raise ValueError("Bernoulli probs must be finite and lie in [0, 1]")
        self._c1 = _counts(p, self.prec)
        self._logits = None
        self._fixed = None

    @classmethod
    def from_logits(cls, logits: np.ndarray, prec: int) -> Bernoulli:
        """Bernoulli(sigmoid(logits)), the sigmoid taken in float64 by a compiled kernel.

        Saves the caller a probability array and five full-array passes; counts follow
        the same rule as ``__init__`` (the float64 sigmoid may differ from another
        library's in the last bit, which is why coders only ever use this one path).
        """
        prec = check_prec(prec)
        z = np.asarray(logits)
        if z.dtype not in (np.float32, np.float64):
            z = z.astype(np.float64)
        if z.size and not np.isfinite(z).all():
            raise ValueError("Bernoulli logits must be finite")
        obj = cls.__new__(cls)
        obj.prec = prec
        obj._c1 = None
        obj._logits = z
        obj._fixed = None
        return obj

    @classmethod
    def from_fixed_logits(cls, logits: np.ndarray, prec: int) -> Bernoulli:
        """Portable coins: int64 logits with ``LOGIT_BITS`` fraction bits, sigmoid from the table.

        Counts are ``clip(round(sigmoid * 2**prec), 1, 2**prec - 1)`` computed in integers
        (:func:`bitsback_core.portable.kernels.count_one`), the same on every machine.
        """
        z = np.asarray(logits)
        if z.dtype.kind not in "iu":
            raise TypeError(f"fixed-point logits must be integers, got {z.dtype}")
        return cls._portable(z.astype(np.int64, copy=False), 0, prec)

    @classmethod
    def from_fixed_accumulator(cls, acc: np.ndarray, shift: int, prec: int) -> Bernoulli:
        """:meth:`from_fixed_logits` of ``rescale(acc, shift)``, the rescale left to the kernels.

        ``acc``: 2-D float64 or float32 holding exact integers with ``LOGIT_BITS + shift``
        fraction bits (a portable network's last product). Each logit is rounded as
        :func:`~bitsback_core.portable.kernels.rescale_layer` rounds it, inside the pass that
        reads it, so the importance weights of BB-IS never write the int64 logits out.
        """
        a = np.asarray(acc)
        if a.dtype not in (np.float64, np.float32) or a.ndim != 2:
            raise TypeError(
                f"an accumulator must be 2-D float64 or float32, got {a.dtype} {a.shape}"
            )
        if not 0 <= shift < 63:
            raise ValueError(f"accumulator shift must lie in [0, 62], got {shift}")
        return cls._portable(a, int(shift), prec)

    @classmethod
    def _portable(cls, source: np.ndarray, shift: int, prec: int) -> Bernoulli:
        prec = check_prec(prec)
        if prec > MAX_PORTABLE_PREC:
            raise ValueError(f"portable Bernoulli supports prec <= {MAX_PORTABLE_PREC}, got {prec}")
        obj = cls.__new__(cls)
        obj.prec = prec
        obj._c1 = None
        obj._logits = None
        obj._fixed = source
        obj._shift = shift
        return obj

    @classmethod
    def from_counts(cls, count_one: np.ndarray, prec: int) -> Bernoulli:
        """Wrap already-quantized counts of ones (each in ``[1, 2**prec - 1]``; not re-checked)."""
        obj = cls.__new__(cls)
        obj.prec = prec
        obj._c1 = np.asarray(count_one)
        obj._logits = None
        obj._fixed = None
        return obj

    def _source(self) -> np.ndarray:
        """The logits the counts come from; asked for only while the counts are unset."""
        source = self._logits if self._logits is not None else self._fixed
        if source is None:  # unreachable through the constructors, which set one source
            raise RuntimeError("Bernoulli holds neither counts nor logits")
        return source

    def _counts(self) -> np.ndarray:
        """Counts, computed from the logits on first use (weights may never need them)."""
        if self._c1 is None:
            z = self._source()
            flat = z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1)
            if self._fixed is not None:
                counts = fixed_counts(
                    flat, self.prec, LOGIT_BITS, table_args("sigmoid"), self._shift
                )
            else:
                counts = counts_from_logits(flat, self.prec)
            self._c1 = counts.reshape(z.shape)
        return self._c1

    @property
    def count_one(self) -> np.ndarray:
        """Integer frequency of symbol 1, in ``[1, 2**prec - 1]``."""
        return self._counts()

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return (self._c1 if self._c1 is not None else self._source()).shape

    @property
    def num_symbols(self) -> int:
        return 2

    def log_prob(self, symbols: np.ndarray) -> np.ndarray:
        """Exact ``log(freq / 2**prec)``; a table lookup instead of a log per element."""
        c1 = self._counts()
        s = as_index_array(symbols, "symbols", 2, c1.shape)
        freq = np.where(s == 1, c1, (1 << self.prec) - c1)
        if self.prec <= _LOG_TABLE_MAX_PREC:
            return _log_table(self.prec)[freq]
        return super().log_prob(symbols)

    def sum_log2_rows(self, symbols: np.ndarray, repeat: int = 1) -> np.ndarray:
        """Fixed-point ``sum log2(freq)`` per row (see the interface), fused: straight from
        portable logits, or from the counts."""
        if len(self.batch_shape) != 2 or self.prec > MAX_COIN_PREC:
            return super().sum_log2_rows(symbols, repeat)
        s = np.asarray(symbols)
        if (
            s.ndim != 2
            or s.shape[0] * repeat != self.batch_shape[0]
            or s.shape[1] != self.batch_shape[1]
        ):
            raise ValueError(f"symbols {s.shape} x {repeat} do not match batch {self.batch_shape}")
        if s.size and (s.min() < 0 or s.max() > 1):
            raise ValueError("Bernoulli symbols must be 0 or 1")
        if self._c1 is None and self._fixed is not None:
            return sum_log2_from_fixed_logits(
                self._fixed, s.astype(np.uint8), repeat, self.prec, self._shift
            )
        return sum_log2_from_counts(self._counts(), s.astype(np.uint8), repeat, self.prec)

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c1 = self._counts()
        s = as_index_array(symbols, "symbols", 2, c1.shape)
        c0 = (1 << self.prec) - c1
        start = np.where(s == 0, 0, c0)
        freq = np.where(s == 0, c0, c1)
        return start, freq

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        c1 = self._counts()
        cf = as_index_array(cumfreq, "cumfreq", 1 << self.prec, c1.shape)
        return (cf >= (1 << self.prec) - c1).astype(np.int64)

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        c1 = self._counts()
        if c1.ndim != 2:
            return None
        return bernoulli_row_ppf, (c1.astype(np.int64, copy=False), np.int64(1 << self.prec))

    def __getitem__(self, key: Any) -> Bernoulli:
        return Bernoulli.from_counts(self._counts()[key], self.prec)

    def __repr__(self) -> str:
        return f"Bernoulli(batch_shape={self.batch_shape}, prec={self.prec})"
