"""Symbols whose intervals are already known: push them without evaluating a CDF again.

A pop computes each symbol's ``[start, start + freq)``; when a coder pushes the very same
symbols back with the very same distribution (BB-IS's particles), re-evaluating the CDF
would only repeat work. ``KnownIntervals`` hands those intervals to the codec, and
refuses any other symbols, so it cannot silently code with stale numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["KnownIntervals"]


class KnownIntervals(QuantizedDistribution):
    """The intervals of fixed ``symbols`` under some distribution of precision ``prec``."""

    def __init__(
        self, symbols: np.ndarray, start: np.ndarray, freq: np.ndarray, prec: int, num_symbols: int
    ) -> None:
        self.symbols = np.asarray(symbols)
        self.start = np.asarray(start)
        self.freq = np.asarray(freq)
        if not (self.symbols.shape == self.start.shape == self.freq.shape):
            raise ValueError("symbols, start and freq must have one shape")
        self.prec = prec
        self._num_symbols = num_symbols

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.symbols.shape

    @property
    def num_symbols(self) -> int:
        return self._num_symbols

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not np.array_equal(symbols, self.symbols):
            raise ValueError("KnownIntervals only codes the symbols it was built for")
        return self.start, self.freq

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        raise TypeError("KnownIntervals is for pushing known symbols; it cannot decode")

    def __getitem__(self, key: Any) -> KnownIntervals:
        return KnownIntervals(
            self.symbols[key], self.start[key], self.freq[key], self.prec, self._num_symbols
        )
