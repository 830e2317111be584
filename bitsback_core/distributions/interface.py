"""The quantized-distribution interface: integer CDFs that an rANS message can code.

A :class:`QuantizedDistribution` is a *batch* of independent distributions over the
symbols ``0 .. num_symbols - 1``, one per element of ``batch_shape``. Every symbol that
can occur has an integer frequency ``freq >= 1`` and the frequencies of one element sum to
exactly ``2 ** prec``. Because everything the coder sees is an integer, the encoder and
the decoder agree bit for bit, and ``log_prob`` is exact (the coders use it for
importance weights).

Minimal implementation::

    class Coin(QuantizedDistribution):
        def __init__(self, counts_of_one, prec):   # counts_of_one: int array
            self.c1, self.prec = counts_of_one, prec
        @property
        def batch_shape(self): return self.c1.shape
        @property
        def num_symbols(self): return 2
        def cdf(self, symbols):
            start = np.where(symbols == 0, 0, (1 << self.prec) - self.c1)
            freq = np.where(symbols == 0, (1 << self.prec) - self.c1, self.c1)
            return start, freq
        def ppf(self, cumfreq):
            return (cumfreq >= (1 << self.prec) - self.c1).astype(np.int64)
        def __getitem__(self, key): return Coin(self.c1[key], self.prec)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

__all__ = ["QuantizedDistribution"]


class QuantizedDistribution(ABC):
    """A batch of integer-CDF distributions with a common precision ``prec``.

    Arrays passed in and out have shape ``batch_shape`` (or broadcast to it).
    ``cdf`` and ``ppf`` are exact inverses: for every valid symbol ``s`` and every
    ``c`` with ``start(s) <= c < start(s) + freq(s)``, ``ppf(c) == s``.
    """

    #: Total frequency of every element is ``2 ** prec``.
    prec: int

    @property
    @abstractmethod
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the batch of independent distributions."""

    @property
    @abstractmethod
    def num_symbols(self) -> int:
        """Size of the alphabet; symbols are ``0 .. num_symbols - 1``."""

    @abstractmethod
    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(start, freq)`` int64 arrays for ``symbols`` (batch-shaped)."""

    @abstractmethod
    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        """Return the int64 symbols whose interval ``[start, start + freq)`` holds ``cumfreq``."""

    def ppf_interval(self, cumfreq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(symbol, start, freq)`` for ``cumfreq``: what a pop needs, in one call.

        Subclasses whose search already computes the interval override this to avoid
        evaluating the CDF twice.
        """
        symbols = self.ppf(cumfreq)
        start, freq = self.cdf(symbols)
        return symbols, start, freq

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        """Optional speed hook: a compiled search for popping ``(chains, n)`` vectors.

        Returns ``(ppf, params)`` where ``ppf`` is a ``numba.njit`` function
        ``ppf(params, chain, element, cumfreq) -> (symbol, start, freq)`` giving exactly
        what :meth:`ppf_interval` gives for element ``[chain, element]`` of this batch.
        The codec then pops a whole vector in one compiled loop over the lane rows
        instead of one numpy round trip per row (which dominates with few lanes). The
        default, ``None``, keeps the numpy path; plugins need not implement it.

        Order: for each chain the codec calls ``ppf`` once per element, in increasing
        element order, whatever the lane layout (chains may run on different threads). A
        program may therefore keep per-chain state in ``params`` (arrays it writes), e.g.
        the pixels it has popped so far: the context VAE's likelihood does
        (``bitsback_ctxvae.distribution``).
        """
        return None

    @abstractmethod
    def __getitem__(self, key: Any) -> QuantizedDistribution:
        """Select a sub-batch with numpy basic indexing over the batch dimensions.

        Coders use it to evaluate only the elements a lane step needs (lazy evaluation).
        """

    def log_prob(self, symbols: np.ndarray) -> np.ndarray:
        """Exact natural-log probability ``log(freq) - prec * log(2)`` of ``symbols``."""
        _, freq = self.cdf(symbols)
        return np.log(freq.astype(np.float64)) - self.prec * math.log(2.0)

    def sum_log_prob_rows(self, symbols: np.ndarray, repeat: int = 1) -> np.ndarray:
        """``log_prob`` summed over the last axis, row ``r`` scoring ``symbols[r // repeat]``.

        Importance weights score one observation under many particles; subclasses may fuse
        the repeat, the lookup and the sum (see :class:`Bernoulli`).
        """
        return self.log_prob(np.repeat(np.asarray(symbols), repeat, axis=0)).sum(axis=-1)

    def sum_log2_rows(self, symbols: np.ndarray, repeat: int = 1) -> np.ndarray:
        """``sum log2(freq)`` over the last axis (``log2 P + prec`` per symbol), int64 with ``LOG2_BITS``.

        Row ``r`` scores ``symbols[r // repeat]``. Importance weights use this (the caller
        subtracts the ``prec`` terms): a fixed-point logarithm of each integer frequency
        (:func:`~bitsback_core.portable.kernels.log2_fixed`), summed in integers, is the
        same on every machine, which a float ``log`` is not.
        """
        from bitsback_core.portable.kernels import sum_log2_of

        _, freq = self.cdf(np.repeat(np.asarray(symbols), repeat, axis=0))
        return sum_log2_of(freq, self.prec)

    def bits(self, symbols: np.ndarray) -> np.ndarray:
        """Exact code length ``prec - log2(freq)`` in bits of each symbol."""
        _, freq = self.cdf(symbols)
        return self.prec - np.log2(freq.astype(np.float64))
