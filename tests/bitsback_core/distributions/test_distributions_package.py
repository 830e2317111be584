"""The package re-exports every quantized distribution."""

from __future__ import annotations

import bitsback_core.distributions as dists


def test_public_names():
    assert set(dists.__all__) == {
        "QuantizedDistribution",
        "Bernoulli",
        "Categorical",
        "Uniform",
        "MaxEntropyBuckets",
        "DiscretizedGaussian",
    }
    for name in dists.__all__:
        assert getattr(dists, name) is not None


def test_every_distribution_implements_the_interface():
    for cls in (dists.Bernoulli, dists.Categorical, dists.Uniform, dists.DiscretizedGaussian):
        assert issubclass(cls, dists.QuantizedDistribution)
        assert not getattr(cls, "__abstractmethods__", frozenset())
