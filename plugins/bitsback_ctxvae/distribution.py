"""``ContextBernoulli``: coins whose logit is a base logit plus a learned logit of the pixel's context.

Given the latent, the context VAE's pixels are not independent: pixel ``p``'s logit is
``base[p] + table[context(p)]``, where the context is read from the pixels before ``p``
(:mod:`bitsback_ctxvae.context`). This is still one :class:`QuantizedDistribution` over
the whole image, with the chain rule inside it:

* ``cdf(symbols)`` (pushing, and the importance weights) knows the whole image, so every
  context is known: the coins are then plain portable :class:`Bernoulli` coins (:meth:`coins`);
* popping goes through the row program, which the codec calls for the elements of a chain
  in increasing order (the row-program contract, any lane layout): each call reads the
  contexts from the pixels it has already popped into its own buffer, then writes its
  pixel there.

Everything is integer arithmetic on fixed-point logits (``LOGIT_BITS``) and the sigmoid
table of :mod:`bitsback_core.portable`, so counts are identical on every machine.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from bitsback_core.ans import register_rows_kernel, run_rows
from bitsback_core.distributions.bernoulli import Bernoulli
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.portable.formats import LOGIT_BITS, MAX_PORTABLE_PREC
from bitsback_core.portable.kernels import count_one, table_args
from bitsback_ctxvae.context import OFFSETS, context_at, contexts

__all__ = ["ContextBernoulli"]


@numba.njit(nogil=True, cache=True)
def context_row_ppf(params, c, j, cf):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Row program: pixel ``j`` of chain ``c`` from the pixels of ``c`` popped before it.

    params ``(base, table, decoded, expected, prec, sig, sig_lo, sig_last)``. ``expected[c]``
    is the pixel this chain must pop next; a call out of raster order (a codec that broke
    the row-program contract) returns an empty interval, which the codec reports instead
    of decoding wrong pixels.
    """
    base, table, decoded, expected, prec, sig, sig_lo, sig_last = params
    if j != expected[c]:
        return np.int64(0), np.int64(0), np.int64(0)
    expected[c] = j + 1
    logit = base[c, j] + table[context_at(decoded[c], j, OFFSETS)]
    c1 = count_one(logit, prec, sig, sig_lo, sig_last, LOGIT_BITS)
    zero = (np.int64(1) << prec) - c1
    if cf < zero:
        decoded[c, j] = 0
        return np.int64(0), np.int64(0), zero
    decoded[c, j] = 1
    return np.int64(1), zero, c1


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_context(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The codec's row loop over :func:`context_row_ppf`, cached on disk like the built-ins'."""
    return run_rows(m, job, context_row_ppf, params)


register_rows_kernel(context_row_ppf, _pop_context)


class ContextBernoulli(QuantizedDistribution):
    """Coins ``(rows, 784)`` with fixed-point logits ``base + table[context]`` (see the module)."""

    def __init__(self, base: np.ndarray, table: np.ndarray, prec: int) -> None:
        if not 1 <= prec <= MAX_PORTABLE_PREC:
            raise ValueError(f"ContextBernoulli needs 1 <= prec <= {MAX_PORTABLE_PREC}, got {prec}")
        base = np.ascontiguousarray(base, dtype=np.int64)
        if base.ndim != 2:
            raise ValueError(f"base logits must be 2-D (rows, pixels), got {base.shape}")
        self.base = base
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        self.prec = int(prec)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.base.shape  # type: ignore[no-any-return]

    @property
    def num_symbols(self) -> int:
        return 2

    def _symbols(self, symbols: np.ndarray, rows: int) -> np.ndarray:
        s = np.asarray(symbols)
        if s.shape != (rows, self.base.shape[1]):
            raise ValueError(f"symbols {s.shape} must have shape {(rows, self.base.shape[1])}")
        if s.size and (s.min() < 0 or s.max() > 1):
            raise ValueError("ContextBernoulli symbols must be 0 or 1")
        return np.ascontiguousarray(s, dtype=np.uint8)

    def coins(self, symbols: np.ndarray, repeat: int = 1) -> Bernoulli:
        """The independent coins these are once the image is known: row ``r`` of the result
        has the logits ``base[r] + table[context]`` of the image ``symbols[r // repeat]``.

        Pushing and the importance weights know the image, so they are plain portable
        :class:`Bernoulli` coins; each image's contexts are computed once, not per particle.
        """
        rows = self.base.shape[0]
        if repeat < 1 or rows % repeat:
            raise ValueError(f"repeat {repeat} does not divide {rows} rows")
        s = self._symbols(symbols, rows // repeat)
        logits = self.base + np.repeat(self.table[contexts(s)], repeat, axis=0)
        return Bernoulli.from_fixed_logits(logits, self.prec)

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.coins(symbols).cdf(symbols)

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            "ContextBernoulli pops whole images in raster order (its row program), not elements"
        )

    def row_program(self) -> tuple[Any, tuple[Any, ...]]:
        rows, n = self.base.shape
        decoded = np.zeros((rows, n), dtype=np.uint8)
        expected = np.zeros(rows, dtype=np.int64)
        return context_row_ppf, (
            self.base, self.table, decoded, expected, np.int64(self.prec), *table_args("sigmoid"),
        )  # fmt: skip

    def sum_log2_rows(self, symbols: np.ndarray, repeat: int = 1) -> np.ndarray:
        """Fixed-point ``sum log2 freq`` per row; row ``r`` scores ``symbols[r // repeat]``."""
        return self.coins(symbols, repeat).sum_log2_rows(symbols, repeat)

    def __getitem__(self, key: Any) -> ContextBernoulli:
        """Whole rows only: a pixel's probability depends on the pixels before it."""
        rows = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        if any(k != slice(None) for k in rest) or isinstance(rows, (int, np.integer)):
            raise IndexError("a ContextBernoulli can only be indexed by whole rows")
        return ContextBernoulli(self.base[rows], self.table, self.prec)

    def __repr__(self) -> str:
        return f"ContextBernoulli(batch_shape={self.batch_shape}, prec={self.prec})"
