"""The discretizer interface: from continuous latents to coded bucket indices.

Bits-back coding needs discrete latents. A discretizer fixes a grid of buckets over the
latent space, gives the quantized prior and posterior over bucket indices, and maps
indices back to the latent values the decoder network is fed.

Minimal plugin::

    class MaxEntropy(Discretizer):
        PLUGIN_NAME = "max_entropy"
        def prior(self, batch_shape): return Uniform(...)
        def posterior(self, params): return DiscretizedGaussian(...)
        def values(self, indices): return self.centres[indices]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.models.interface import GaussianParams

__all__ = ["Discretizer"]


class Discretizer(ABC):
    """Buckets over each latent dimension, with quantized prior and posterior."""

    PLUGIN_NAME: ClassVar[str]
    ALIASES: ClassVar[tuple[str, ...]] = ()

    #: Number of buckets per latent dimension.
    num_buckets: int

    def __init__(
        self,
        *,
        log_num_bucket: int = 8,
        prior_mprec: int = 8,
        prop_mprec: int = 16,
        arithmetic: str = "float",
    ) -> None:
        """The pipeline builds every discretizer with these config keys as keywords, so a
        plugin's constructor must accept them; this default keeps them and sets
        ``num_buckets`` (``2**log_num_bucket``), which is all the minimal plugin above needs."""
        self.log_num_bucket = log_num_bucket
        self.num_buckets = 1 << log_num_bucket
        self.prior_mprec = prior_mprec
        self.prop_mprec = prop_mprec
        self.arithmetic = arithmetic

    @abstractmethod
    def prior(self, batch_shape: tuple[int, ...]) -> QuantizedDistribution:
        """Quantized prior over bucket indices with the given batch shape."""

    @abstractmethod
    def posterior(self, params: GaussianParams) -> QuantizedDistribution:
        """Quantized posterior over bucket indices, batch shape ``params.mean.shape``."""

    @abstractmethod
    def values(self, indices: np.ndarray) -> np.ndarray:
        """Latent values (float64) of the buckets ``indices``."""
