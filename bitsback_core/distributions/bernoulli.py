"""Quantized Bernoulli distributions: the likelihood of binarized pixels.

The count of symbol 1 is ``clip(round(p * 2**prec), 1, 2**prec - 1)``. Multiplying a
float64 by a power of two is exact and ``np.rint`` is correctly rounded, so the count is a
pure function of the float64 probability: an encoder and a decoder that see the same
probabilities build bit-identical tables. The clip keeps both symbols codable even when
the model says a pixel is certain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, check_prec

__all__ = ["Bernoulli"]


class Bernoulli(QuantizedDistribution):
    """A batch of coins; symbol 0 owns ``[0, 2**prec - c1)`` and symbol 1 the rest."""

    def __init__(self, probs: np.ndarray, prec: int) -> None:
        self.prec = check_prec(prec)
        # float32 network outputs are widened first, so the rounding happens in float64.
        p = np.array(probs, dtype=np.float64)
        if not np.all(np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
            raise ValueError("Bernoulli probs must be finite and lie in [0, 1]")
        total = 1 << self.prec
        counts = np.clip(np.rint(p * float(total)), 1.0, float(total - 1))
        self._c1 = counts.astype(np.int64)

    @classmethod
    def _from_counts(cls, count_one: np.ndarray, prec: int) -> Bernoulli:
        """Wrap already-quantized counts (used by slicing: no re-quantization)."""
        obj = cls.__new__(cls)
        obj.prec = prec
        obj._c1 = np.asarray(count_one)
        return obj

    @property
    def count_one(self) -> np.ndarray:
        """Integer frequency of symbol 1, in ``[1, 2**prec - 1]``."""
        return self._c1

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._c1.shape

    @property
    def num_symbols(self) -> int:
        return 2

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = as_index_array(symbols, "symbols", 2, self._c1.shape)
        c0 = (1 << self.prec) - self._c1
        start = np.where(s == 0, 0, c0)
        freq = np.where(s == 0, c0, self._c1)
        return start, freq

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        cf = as_index_array(cumfreq, "cumfreq", 1 << self.prec, self._c1.shape)
        return (cf >= (1 << self.prec) - self._c1).astype(np.int64)

    def __getitem__(self, key: Any) -> Bernoulli:
        return Bernoulli._from_counts(self._c1[key], self.prec)

    def __repr__(self) -> str:
        return f"Bernoulli(batch_shape={self.batch_shape}, prec={self.prec})"
