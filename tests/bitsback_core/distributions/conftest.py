"""Shared invariant checks for the quantized distributions.

Exposed as a session fixture (test directories have no ``__init__.py``, so a helper
module could not be imported reliably). Session scope keeps hypothesis happy.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from bitsback_core.distributions import QuantizedDistribution


def _slice_keys(shape: tuple[int, ...]) -> list[Any]:
    """A few basic-index keys that are valid for a batch of ``shape``."""
    keys: list[Any] = [(), Ellipsis, (None,)]
    if shape:
        keys.append(slice(1, None))
        keys.append((slice(None, None, -1),))
        if shape[0] > 0:
            keys.append(0)
        if shape[-1] > 0:
            keys.append((Ellipsis, -1))
    return keys


def check_coding_invariants(
    dist: QuantizedDistribution,
    symbols: np.ndarray,
    u: np.ndarray,
    enumerate_all: bool = False,
) -> None:
    """Assert the contract of ``QuantizedDistribution`` on ``symbols`` (batch-shaped).

    ``u`` (floats in ``[0, 1)``, batch-shaped) picks a cumulative frequency inside each
    symbol's interval. With ``enumerate_all`` every symbol of every element is visited and
    the intervals must tile ``[0, 2**prec)`` exactly.
    """
    total = 1 << dist.prec
    shape = dist.batch_shape
    symbols = np.asarray(symbols, dtype=np.int64)
    assert symbols.shape == shape

    start, freq = dist.cdf(symbols)
    assert start.dtype == np.int64 and freq.dtype == np.int64
    assert start.shape == shape and freq.shape == shape
    assert np.all(freq >= 1)
    assert np.all(start >= 0) and np.all(start + freq <= total)

    # ppf inverts cdf anywhere inside the interval, including both ends.
    cf = start + np.floor(u * freq).astype(np.int64)
    assert np.all((cf >= start) & (cf < start + freq))
    for c in (cf, start, start + freq - 1):
        decoded = dist.ppf(c)
        assert decoded.dtype == np.int64
        np.testing.assert_array_equal(decoded, symbols)

    # log_prob and bits are exact functions of freq.
    expected = np.log(freq / total)
    np.testing.assert_allclose(dist.log_prob(symbols), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dist.bits(symbols), -expected / np.log(2.0), rtol=1e-12, atol=1e-12)

    if enumerate_all:
        end = np.zeros(shape, dtype=np.int64)
        for s in range(dist.num_symbols):
            st, fr = dist.cdf(np.full(shape, s, dtype=np.int64))
            np.testing.assert_array_equal(st, end)  # intervals are contiguous
            assert np.all(fr >= 1)
            end = st + fr
        np.testing.assert_array_equal(end, np.full(shape, total))

    # A sub-batch behaves exactly like the same elements of the full batch.
    for key in _slice_keys(shape):
        sub = dist[key]
        expected_shape = np.empty(shape, dtype=bool)[key].shape
        assert sub.batch_shape == expected_shape
        assert sub.prec == dist.prec and sub.num_symbols == dist.num_symbols
        s_start, s_freq = sub.cdf(symbols[key])
        np.testing.assert_array_equal(s_start, start[key])
        np.testing.assert_array_equal(s_freq, freq[key])
        np.testing.assert_array_equal(sub.ppf(cf[key]), symbols[key])


@pytest.fixture(scope="session")
def check_dist() -> Callable[..., None]:
    """The :func:`check_coding_invariants` checker."""
    return check_coding_invariants
