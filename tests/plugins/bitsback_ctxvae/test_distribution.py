"""ContextBernoulli: intervals, the raster-order pop, weights, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.distributions.interface import QuantizedDistribution
from bitsback_core.portable.formats import LOGIT_BITS
from bitsback_ctxvae.context import NUM_CONTEXTS, contexts
from bitsback_ctxvae.distribution import ContextBernoulli


def _dist(rows: int, prec: int = 16, seed: int = 0) -> ContextBernoulli:
    rng = np.random.default_rng(seed)
    base = rng.integers(-6 << LOGIT_BITS, 6 << LOGIT_BITS, size=(rows, 784))
    table = rng.integers(-8 << LOGIT_BITS, 8 << LOGIT_BITS, size=NUM_CONTEXTS)
    return ContextBernoulli(base, table, prec)


def _images(rows: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((rows, 784)) < 0.4).astype(np.int64)


def test_intervals_partition_the_range_and_use_the_contexts() -> None:
    d = _dist(3)
    x = _images(3)
    start0, freq0 = d.cdf(np.zeros_like(x))
    start, freq = d.cdf(x)
    total = 1 << d.prec
    assert np.all(freq >= 1)
    assert np.all(start + freq <= total)
    # For x's own symbols the coin's count depends on x's contexts; recompute one pixel.
    from bitsback_core.portable.kernels import count_one, table_args

    ctx = contexts(x)
    r, p = 2, 300
    c1 = count_one(d.base[r, p] + d.table[ctx[r, p]], d.prec, *table_args("sigmoid"), LOGIT_BITS)
    assert freq[r, p] == (c1 if x[r, p] else total - c1)


def test_push_then_pop_in_raster_order_recovers_the_images() -> None:
    d = _dist(4)
    x = _images(4)
    message = Message((4, 1), lprec=32, bprec=32, seed=7)
    before = message.to_frame_bytes()
    LaneView(message).push(d, x)
    assert message.to_frame_bytes() != before
    popped = LaneView(message).pop(_dist(4))
    np.testing.assert_array_equal(popped, x)
    assert message.to_frame_bytes() == before


@pytest.mark.parametrize(("chains", "lanes"), [(2, 4), (3, 7), (1, 784)])
def test_several_lanes_per_chain_decode_too(chains: int, lanes: int) -> None:
    """The codec pops a chain's elements in increasing order whatever the lanes."""
    x = _images(chains)
    message = Message((chains, lanes), lprec=32, bprec=32, seed=3)
    before = message.to_frame_bytes()
    LaneView(message).push(_dist(chains), x)
    np.testing.assert_array_equal(LaneView(message).pop(_dist(chains)), x)
    assert message.to_frame_bytes() == before


def test_a_pop_out_of_raster_order_is_refused() -> None:
    ppf, params = _dist(1).row_program()
    assert ppf(params, 0, 0, 0)[2] > 0
    assert ppf(params, 0, 5, 0)[2] == 0  # pixel 5 before pixels 1-4: an empty interval


def test_weights_equal_the_sum_of_log2_frequencies() -> None:
    d = _dist(6)
    x = _images(2)
    fused = d.sum_log2_rows(x, repeat=3)
    generic = QuantizedDistribution.sum_log2_rows(d, x, repeat=3)
    np.testing.assert_array_equal(fused, generic)


def test_rows_can_be_selected_but_not_single_pixels() -> None:
    d = _dist(4)
    x = _images(4)
    np.testing.assert_array_equal(d[1:3].cdf(x[1:3])[1], d.cdf(x)[1][1:3])
    np.testing.assert_array_equal(d[1:3, :].base, d.base[1:3])
    with pytest.raises(IndexError):
        d[:, 5:9]
    with pytest.raises(NotImplementedError):
        d.ppf(np.zeros((4, 784), dtype=np.int64))


@pytest.mark.parametrize("bad", [np.full((1, 784), 2), np.zeros((1, 700))])
def test_bad_symbols_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        _dist(1).cdf(bad)
