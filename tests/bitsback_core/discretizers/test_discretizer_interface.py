"""The discretizer interface's constructor: the keywords the pipeline builds every plugin with."""

from __future__ import annotations

import numpy as np

from bitsback_core.discretizers import Discretizer
from bitsback_core.distributions import QuantizedDistribution, Uniform
from bitsback_core.models.interface import GaussianParams


class Minimal(Discretizer):
    """The interface docstring's minimal plugin: no constructor of its own."""

    PLUGIN_NAME = "minimal"

    def prior(self, batch_shape: tuple[int, ...]) -> QuantizedDistribution:
        return Uniform(self.num_buckets, self.prior_mprec, batch_shape)

    def posterior(self, params: GaussianParams) -> QuantizedDistribution:
        return Uniform(self.num_buckets, self.prop_mprec, params.mean.shape)

    def values(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(indices, dtype=np.float64)


def test_minimal_plugin_takes_the_pipeline_keywords() -> None:
    disc = Minimal(log_num_bucket=5, prior_mprec=7, prop_mprec=12, arithmetic="portable")
    assert disc.num_buckets == 32
    assert (disc.log_num_bucket, disc.prior_mprec, disc.prop_mprec) == (5, 7, 12)
    assert disc.arithmetic == "portable"
    assert disc.prior((2, 3)).batch_shape == (2, 3)
