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
        "KnownIntervals",
    }
    for name in dists.__all__:
        assert getattr(dists, name) is not None


def test_every_distribution_implements_the_interface():
    for cls in (dists.Bernoulli, dists.Categorical, dists.Uniform, dists.DiscretizedGaussian):
        assert issubclass(cls, dists.QuantizedDistribution)
        assert not getattr(cls, "__abstractmethods__", frozenset())


def test_known_intervals_push_only_their_symbols():
    import numpy as np
    import pytest

    sym = np.array([[1, 0, 2]])
    known = dists.KnownIntervals(sym, np.array([[3, 0, 9]]), np.array([[6, 3, 7]]), 4, 3)
    start, freq = known.cdf(sym)
    np.testing.assert_array_equal(start, [[3, 0, 9]])
    np.testing.assert_array_equal(known[:, 1:].cdf(sym[:, 1:])[1], [[3, 7]])
    with pytest.raises(ValueError, match="only codes"):
        known.cdf(np.array([[1, 0, 1]]))
    with pytest.raises(TypeError):
        known.ppf(np.zeros((1, 3), dtype=np.int64))
