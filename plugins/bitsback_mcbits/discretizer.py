"""Max-entropy latent buckets: equal-mass buckets of the standard-normal prior.

With ``2**log_num_bucket`` buckets of equal prior mass the quantized prior is exactly
uniform, so pushing a latent with the prior costs ``log_num_bucket`` bits per dimension
and the posterior carries all the shape. Bucket centres (the prior's quantiles at the
bucket midpoints) are the latent values the decoder network sees.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.discretizers.interface import Discretizer
from bitsback_core.distributions import (
    DiscretizedGaussian,
    MaxEntropyBuckets,
    QuantizedDistribution,
    Uniform,
)
from bitsback_core.distributions.fixed_gaussian import FixedGaussian, FixedGaussianParams
from bitsback_core.models.interface import GaussianParams
from bitsback_core.portable.tables import normal_quantiles

__all__ = ["MaxEntropyDiscretizer"]


class MaxEntropyDiscretizer(Discretizer):
    """Buckets of equal standard-normal mass; prior at ``prior_mprec``, posterior at ``prop_mprec``."""

    PLUGIN_NAME = "max_entropy"
    ALIASES = ("MaxEntropyDiscretizer",)

    def __init__(
        self,
        log_num_bucket: int = 8,
        prior_mprec: int = 8,
        prop_mprec: int = 16,
        arithmetic: str = "float",
    ) -> None:
        if not 1 <= log_num_bucket <= min(prior_mprec, prop_mprec):
            raise ValueError(
                f"log_num_bucket={log_num_bucket} must be >= 1 and at most prior_mprec={prior_mprec} "
                f"and prop_mprec={prop_mprec} (every bucket needs a frequency of at least 1)"
            )
        self.log_num_bucket = log_num_bucket
        self.num_buckets = 1 << log_num_bucket
        self.prior_mprec = prior_mprec
        self.prop_mprec = prop_mprec
        if arithmetic not in ("float", "portable"):
            raise ValueError(f"arithmetic must be 'float' or 'portable', got {arithmetic!r}")
        self.arithmetic = arithmetic
        self.buckets = MaxEntropyBuckets(log_num_bucket)
        self._fixed_centres = (
            normal_quantiles(log_num_bucket)[1] if arithmetic == "portable" else None
        )

    def prior(self, batch_shape: tuple[int, ...]) -> Uniform:
        return Uniform(self.num_buckets, self.prior_mprec, batch_shape)

    def posterior(self, params: GaussianParams | FixedGaussianParams) -> QuantizedDistribution:
        """A :class:`DiscretizedGaussian` of float parameters, a :class:`FixedGaussian` of fixed-point ones."""
        if isinstance(params, FixedGaussianParams):
            return FixedGaussian(params, self.log_num_bucket, self.prop_mprec)
        if self.arithmetic == "portable":
            raise TypeError(
                "a portable discretizer needs fixed-point posterior parameters (a portable model)"
            )
        return DiscretizedGaussian(params.mean, params.std, self.buckets, self.prop_mprec)

    def values(self, indices: np.ndarray) -> np.ndarray:
        """Bucket centres: float64, or int64 with ``LATENT_BITS`` fraction bits in portable arithmetic."""
        idx = np.asarray(indices, dtype=np.int64)
        if self._fixed_centres is not None:
            return self._fixed_centres[idx]
        return self.buckets.centres[idx]
