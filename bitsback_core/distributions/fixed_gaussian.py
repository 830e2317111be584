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
import numpy as np

from bitsback_core.distributions._portable_kernels import (
    fixed_gaussian_cdf,
    fixed_gaussian_ppf_interval,
    fixed_gaussian_row_ppf,
)
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.uniform import as_index_array, check_prec
from bitsback_core.portable.formats import LATENT_BITS, MAX_PORTABLE_PREC
from bitsback_core.portable.kernels import table_args
from bitsback_core.portable.tables import lookup, normal_quantiles, table

__all__ = ["FixedGaussian", "FixedGaussianParams", "MEAN_LIMIT", "LOG_STD_RANGE"]

#: ``|mean|`` is clamped to this (in latent units).
MEAN_LIMIT = 64
#: ``log_std`` is clamped to this range (natural log, latent units).
LOG_STD_RANGE = (-9, 12)


@attrs.frozen
class FixedGaussianParams:
    """Diagonal Gaussian parameters in fixed point: int64 ``mean`` and ``log_std`` (``LATENT_BITS``)."""

    mean: np.ndarray
    log_std: np.ndarray

    def __getitem__(self, key: Any) -> FixedGaussianParams:
        return FixedGaussianParams(mean=self.mean[key], log_std=self.log_std[key])

    def tile(self, repeats: int) -> FixedGaussianParams:
        """The parameters repeated ``repeats`` times along the latent axis."""
        return FixedGaussianParams(
            np.tile(self.mean, (1, repeats)), np.tile(self.log_std, (1, repeats))
        )

    def to_float(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` as floats, for display and evaluation only (never for coding)."""
        scale = float(1 << LATENT_BITS)
        return self.mean / scale, np.exp(self.log_std / scale)


def clamp_params(mean: np.ndarray, log_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clamped mean and ``1 / std`` (both ``LATENT_BITS``) that define the distribution."""
    one = 1 << LATENT_BITS
    m = np.clip(np.asarray(mean, dtype=np.int64), -MEAN_LIMIT * one, MEAN_LIMIT * one)
    ls = np.clip(
        np.asarray(log_std, dtype=np.int64), LOG_STD_RANGE[0] * one, LOG_STD_RANGE[1] * one
    )
    inv_s = lookup(table("exp"), -ls, LATENT_BITS)
    return m, inv_s


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
        mean, log_std = np.broadcast_arrays(mean, log_std)
        self._m, self._inv_s = clamp_params(mean, log_std)
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
        return obj

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
        sym, start, freq = self._per_element(fixed_gaussian_ppf_interval, cf)
        return sym, start, freq

    def row_program(self) -> tuple[Any, tuple[Any, ...]] | None:
        if len(self.batch_shape) != 2:
            return None
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
