"""Max-entropy latent buckets: equal-mass buckets of the standard-normal prior.

With ``2**log_num_bucket`` buckets of equal prior mass the quantized prior is exactly
uniform, so pushing a latent with the prior costs ``log_num_bucket`` bits per dimension
and the posterior carries all the shape. Bucket centres (the prior's quantiles at the
bucket midpoints) are the latent values the decoder network sees.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.discretizers.interface import Discretizer
from bitsback_core.distributions import DiscretizedGaussian, MaxEntropyBuckets, Uniform
from bitsback_core.models.interface import GaussianParams

__all__ = ["MaxEntropyDiscretizer"]


class MaxEntropyDiscretizer(Discretizer):
    """Buckets of equal standard-normal mass; prior at ``prior_mprec``, posterior at ``prop_mprec``."""

    PLUGIN_NAME = "max_entropy"
    ALIASES = ("MaxEntropyDiscretizer",)

    def __init__(self, log_num_bucket: int = 8, prior_mprec: int = 8, prop_mprec: int = 16) -> None:
        if not 1 <= log_num_bucket <= min(prior_mprec, prop_mprec):
            raise ValueError(
                f"log_num_bucket={log_num_bucket} must be >= 1 and at most prior_mprec={prior_mprec} "
                f"and prop_mprec={prop_mprec} (every bucket needs a frequency of at least 1)"
            )
        self.log_num_bucket = log_num_bucket
        self.num_buckets = 1 << log_num_bucket
        self.prior_mprec = prior_mprec
        self.prop_mprec = prop_mprec
        self.buckets = MaxEntropyBuckets(log_num_bucket)

    def prior(self, batch_shape: tuple[int, ...]) -> Uniform:
        return Uniform(self.num_buckets, self.prior_mprec, batch_shape)

    def posterior(self, params: GaussianParams) -> DiscretizedGaussian:
        return DiscretizedGaussian(params.mean, params.std, self.buckets, self.prop_mprec)

    def values(self, indices: np.ndarray) -> np.ndarray:
        return self.buckets.centres[np.asarray(indices, dtype=np.int64)]
