"""Quantized (integer-CDF) distributions for rANS coding."""

from bitsback_core.distributions.bernoulli import Bernoulli
from bitsback_core.distributions.categorical import Categorical
from bitsback_core.distributions.gaussian import DiscretizedGaussian, MaxEntropyBuckets
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.distributions.known import KnownIntervals
from bitsback_core.distributions.uniform import Uniform

__all__ = [
    "QuantizedDistribution",
    "Bernoulli",
    "Categorical",
    "Uniform",
    "MaxEntropyBuckets",
    "DiscretizedGaussian",
    "KnownIntervals",
]
