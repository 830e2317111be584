"""Gaussians over max-entropy buckets in portable (integer) arithmetic.

The portable twin of :class:`~bitsback_core.distributions.gaussian.DiscretizedGaussian`:
the same buckets (equal mass under N(0, 1)) and the same two quantizations, but every
number is a fixed-point integer. The posterior arrives as ``mean`` and ``log_std`` with
``LATENT_BITS`` fraction bits (straight from a portable network); bucket edges are normal
quantiles computed in decimal arithmetic (:func:`~bitsback_core.portable.tables.normal_quantiles`);
``1 / std`` comes from the ``exp`` table and the normal CDF from the ``ndtr`` table. So
``start(i)`` is the same integer on every machine (:func:`~bitsback_core.portable.kernels.gaussian_start`).

Clamps keep every product inside int64 and are part of the definition: ``|mean| <= 64``
and ``log_std`` in ``[-9, 12]`` (a posterior narrower than ``e**-9`` puts all its mass in
one bucket anyway).
"""

from __future__ import annotations

from typing import Any

import attrs
import numba
import numpy as np

from bitsback_core.ans import register_rows_kernel, run_rows
from bitsback_core.distributions._portable_kernels import (
    clamp_and_invert,
    fixed_gaussian_cdf,
    fixed_gaussian_ppf_interval,
    fixed_gaussian_row_ppf,
    fixed_gaussian_start_table,
    fixed_gaussian_table_ppf,
    fixed_gaussian_table_row_ppf,
)
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, check_prec
from bitsback_core.portable.formats import LATENT_BITS, MAX_PORTABLE_PREC
from bitsback_core.portable.kernels import table_args
from bitsback_core.portable.tables import normal_quantiles

__all__ = ["FixedGaussian", "FixedGaussianParams", "MEAN_LIMIT", "LOG_STD_RANGE"]

#: ``|mean|`` is clamped to this (in latent units).
MEAN_LIMIT = 64
#: ``log_std`` is clamped to this range (natural log, latent units).
LOG_STD_RANGE = (-9, 12)
#: A tiled batch gets a start table when ``repeats * log2(buckets) * _TABLE_GAIN >= buckets``
#: (bisection probes saved against starts computed; see ``FixedGaussian._start_table``).
_TABLE_GAIN = 4
#: ... and when the table has at most this many entries (int32: 16 MiB).
_TABLE_MAX = 1 << 22


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_fixed_gaussian(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The codec's row loop over the portable bucket search, cached on disk."""
    return run_rows(m, job, fixed_gaussian_row_ppf, params)


@numba.njit(nogil=True, cache=True, parallel=True)
def _pop_fixed_gaussian_table(m, job, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The same row loop over a tiled batch's start table."""
    return run_rows(m, job, fixed_gaussian_table_row_ppf, params)


register_rows_kernel(fixed_gaussian_row_ppf, _pop_fixed_gaussian)
register_rows_kernel(fixed_gaussian_table_row_ppf, _pop_fixed_gaussian_table)


@attrs.frozen
class FixedGaussianParams:
    """Diagonal Gaussian parameters in fixed point: int64 ``mean`` and ``log_std`` (``LATENT_BITS``).

    ``tiled_from``: set by :meth:`tile` to ``(untiled parameters, repeats)``. The tiled
    arrays are still there for any reader; :class:`FixedGaussian` uses the untiled ones to
    clamp each distinct distribution once and, for many repeats, to tabulate its starts.
    """

    mean: np.ndarray
    log_std: np.ndarray
    tiled_from: tuple[FixedGaussianParams, int] | None = attrs.field(
        default=None, eq=False, repr=False
    )

    def __getitem__(self, key: Any) -> FixedGaussianParams:
        return FixedGaussianParams(mean=self.mean[key], log_std=self.log_std[key])

    def tile(self, repeats: int) -> FixedGaussianParams:
        """The parameters repeated ``repeats`` times along the latent axis."""
        base, before = self.tiled_from if self.tiled_from is not None else (self, 1)
        return FixedGaussianParams(
            np.tile(self.mean, (1, repeats)),
            np.tile(self.log_std, (1, repeats)),
            tiled_from=(base, before * repeats),
        )

    def to_float(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` as floats, for display and evaluation only (never for coding)."""
        scale = float(1 << LATENT_BITS)
        return self.mean / scale, np.exp(self.log_std / scale)


def clamp_params(mean: np.ndarray, log_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clamped mean and ``1 / std`` (both ``LATENT_BITS``) that define the distribution.

    ``1 / std`` is ``exp(-log_std)`` read from the ``exp`` table as
    :func:`~bitsback_core.portable.tables.lookup` reads it (one compiled pass).
    """
    one = 1 << LATENT_BITS
    mean, log_std = np.broadcast_arrays(np.asarray(mean), np.asarray(log_std))
    m, inv_s = clamp_and_invert(
        np.ascontiguousarray(mean, dtype=np.int64).reshape(-1),
        np.ascontiguousarray(log_std, dtype=np.int64).reshape(-1),
        MEAN_LIMIT * one,
        (LOG_STD_RANGE[0] * one, LOG_STD_RANGE[1] * one),
        table_args("exp"),
    )
    return m.reshape(mean.shape), inv_s.reshape(mean.shape)


def _tiled_base(params: FixedGaussianParams) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(mean, log_std, repeats)`` of the untiled parameters, where they tile to ``params``."""
    if params.tiled_from is None:
        return None
    base, repeats = params.tiled_from
    mean, log_std = np.asarray(base.mean), np.asarray(base.log_std)
    if (
        mean.ndim != 2
        or mean.shape != log_std.shape
        or np.shape(params.mean) != (mean.shape[0], mean.shape[1] * repeats)
        or mean.dtype.kind not in "iu"
        or log_std.dtype.kind not in "iu"
    ):
        return None
    return mean, log_std, repeats


class FixedGaussian(QuantizedDistribution):
    """A batch of N(mean, exp(log_std)) over ``2**log_num_bucket`` max-entropy buckets."""

    def __init__(
        self,
        params: FixedGaussianParams,
        log_num_bucket: int,
        prec: int,
        full_support: bool = False,
    ) -> None:
        self.prec = check_prec(prec)
        if self.prec > MAX_PORTABLE_PREC:
            raise ValueError(
                f"portable Gaussians support prec <= {MAX_PORTABLE_PREC}, got {self.prec}"
            )
        if (1 << log_num_bucket) > (1 << self.prec):
            raise ValueError(
                f"{1 << log_num_bucket} buckets need 2**prec >= {1 << log_num_bucket}, but prec={self.prec}"
            )
        mean, log_std = np.asarray(params.mean), np.asarray(params.log_std)
        if mean.dtype.kind not in "iu" or log_std.dtype.kind not in "iu":
            raise TypeError("FixedGaussian takes integer (fixed-point) mean and log_std")
        base = _tiled_base(params)
        if base is not None:  # clamp each distinct distribution once, then tile
            m0, s0 = clamp_params(base[0], base[1])
            self._m, self._inv_s = np.tile(m0, (1, base[2])), np.tile(s0, (1, base[2]))
            self._distinct: tuple[np.ndarray, np.ndarray, int] | None = (m0, s0, base[2])
        else:
            self._m, self._inv_s = clamp_params(mean, log_std)
            self._distinct = None
        self._table: np.ndarray | None = None
        self.log_num_bucket = int(log_num_bucket)
        self.full_support = full_support
        self._edges = normal_quantiles(self.log_num_bucket)[0]

    @classmethod
    def _from_parts(cls, m: np.ndarray, inv_s: np.ndarray, like: FixedGaussian) -> FixedGaussian:
        obj = cls.__new__(cls)
        obj.prec, obj.log_num_bucket, obj.full_support = (
            like.prec,
            like.log_num_bucket,
            like.full_support,
        )
        obj._m, obj._inv_s, obj._edges = m, inv_s, like._edges
        obj._distinct, obj._table = None, None
        return obj

    def _start_table(self) -> tuple[np.ndarray, int] | None:
        """``(starts, width)`` of a tiled batch searched often enough to pay for the table.

        Element ``(c, j)`` of the batch is distinct distribution ``(c, j % width)``, whose
        ``start(i)`` for every ``i`` is row ``c * width + j % width`` of ``starts``. Popping
        the 50 particles of BB-IS(50) searches each distinct distribution 50 times: 50
        bisections of 8 interpolated probes each cost more than the 257 starts (computed
        independently, so they pipeline) and 50 bisections of plain loads.
        """
        if self._distinct is None:
            return None
        m0, s0, repeats = self._distinct
        n = self.num_symbols
        if repeats * self.log_num_bucket * _TABLE_GAIN < n or m0.size * (n + 1) > _TABLE_MAX:
            return None
        if self._table is None:
            self._table = fixed_gaussian_start_table(
                np.ascontiguousarray(m0).reshape(-1),
                np.ascontiguousarray(s0).reshape(-1),
                self._edges,
                n,
                self.prec,
                self.full_support,
                table_args("ndtr"),
            )
        return self._table, m0.shape[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._m.shape

    @property
    def num_symbols(self) -> int:
        return 1 << self.log_num_bucket

    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ascontiguousarray(self._m).reshape(-1), np.ascontiguousarray(self._inv_s).reshape(
            -1
        )

    def start(self, index: np.ndarray) -> np.ndarray:
        """Start of bucket ``index`` for ``index`` in ``[0, N]`` (``start(N) = 2**prec``)."""
        i = as_index_array(index, "index", self.num_symbols + 1, self.batch_shape)
        return self._cdf(i)[0]

    def _per_element(self, kernel: Any, values: np.ndarray) -> tuple[np.ndarray, ...]:
        """``kernel`` (the compiled cdf or ppf) on one value per element, in batch shape."""
        m, inv_s = self._flat()
        flat = np.ascontiguousarray(np.broadcast_to(values, self.batch_shape), dtype=np.int64)
        out = kernel(
            m,
            inv_s,
            flat.reshape(-1),
            self._edges,
            self.num_symbols,
            self.prec,
            self.full_support,
            table_args("ndtr"),
        )
        return tuple(a.reshape(self.batch_shape) for a in out)

    def _cdf(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start, freq = self._per_element(fixed_gaussian_cdf, idx)
        return start, freq

    def cdf(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._cdf(as_index_array(symbols, "symbols", self.num_symbols, self.batch_shape))

    def ppf(self, cumfreq: np.ndarray) -> np.ndarray:
        return self.ppf_interval(cumfreq)[0]

    def ppf_interval(self, cumfreq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cf = as_index_array(cumfreq, "cumfreq", 1 << self.prec, self.batch_shape)
        table = self._start_table()
        if table is not None:
            cf2 = np.broadcast_to(cf, self.batch_shape)
            return fixed_gaussian_table_ppf(table[0], table[1], cf2, self.num_symbols)
        sym, start, freq = self._per_element(fixed_gaussian_ppf_interval, cf)
        return sym, start, freq

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        if len(self.batch_shape) != 2:
            return None
        table = self._start_table()
        if table is not None:
            starts, width = table
            return fixed_gaussian_table_row_ppf, (
                starts,
                np.int64(width),
                np.int64(self.num_symbols),
            )
        return fixed_gaussian_row_ppf, (
            np.ascontiguousarray(self._m), np.ascontiguousarray(self._inv_s), self._edges,
            np.int64(self.num_symbols), np.int64(self.prec), bool(self.full_support), *table_args("ndtr"),
        )  # fmt: skip

    def __getitem__(self, key: Any) -> FixedGaussian:
        return FixedGaussian._from_parts(self._m[key], self._inv_s[key], self)

    def __repr__(self) -> str:
        return (
            f"FixedGaussian(batch_shape={self.batch_shape}, num_buckets={self.num_symbols}, "
            f"prec={self.prec}, full_support={self.full_support})"
        )
