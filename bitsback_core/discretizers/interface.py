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

    @abstractmethod
    def prior(self, batch_shape: tuple[int, ...]) -> QuantizedDistribution:
        """Quantized prior over bucket indices with the given batch shape."""

    @abstractmethod
    def posterior(self, params: GaussianParams) -> QuantizedDistribution:
        """Quantized posterior over bucket indices, batch shape ``params.mean.shape``."""

    @abstractmethod
    def values(self, indices: np.ndarray) -> np.ndarray:
        """Latent values (float64) of the buckets ``indices``."""
