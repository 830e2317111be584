"""Per-epoch binarization, shuffling and sharding: reproducible and rank-independent."""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.training.data import derive_seed, epoch_batches, epoch_images, epoch_order


def _intensities(n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, size=(n, 784)).astype(np.uint8)


def test_epoch_images_are_seeded_binary_draws() -> None:
    x = _intensities()
    a = epoch_images(x, seed=42, epoch=3)
    assert a.dtype == np.uint8 and a.shape == x.shape
    assert set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, epoch_images(x, seed=42, epoch=3))
    assert not np.array_equal(a, epoch_images(x, seed=42, epoch=4))  # re-drawn each epoch
    assert not np.array_equal(a, epoch_images(x, seed=43, epoch=3))
    # black pixels never light up, white ones always do, the rest ~ intensity / 255
    assert not a[x == 0].any() and a[x == 255].all()
    assert abs(a.mean() - x.mean() / 255) < 0.005


def test_epoch_images_without_binarization_threshold_at_half() -> None:
    x = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(epoch_images(x, 1, 0, binarize=False), [[0, 0, 1, 1]])


def test_epoch_images_beyond_one_chunk_keep_the_intensity_mean() -> None:
    x = _intensities(5000)  # crosses the internal 4096-row chunk
    a = epoch_images(x, seed=1, epoch=0)
    assert abs(a[4096:].mean() - x[4096:].mean() / 255) < 0.01


def test_epoch_order_is_a_seeded_permutation() -> None:
    order = epoch_order(100, seed=42, epoch=0)
    assert sorted(order.tolist()) == list(range(100))
    np.testing.assert_array_equal(order, epoch_order(100, 42, 0))
    assert not np.array_equal(order, epoch_order(100, 42, 1))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ranks_get_disjoint_equal_slices(world: int) -> None:
    order = epoch_order(103, seed=7, epoch=2)
    shards = [epoch_batches(order, 20, rank, world) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
    images = [np.concatenate(s) for s in shards]
    assert len({len(i) for i in images}) == 1
    seen = np.concatenate(images)
    assert len(set(seen.tolist())) == len(seen) == (103 // world) * world
    np.testing.assert_array_equal(seen, order[: len(seen)])  # contiguous slices, in order
    if world == 1:
        assert [len(b) for b in shards[0]] == [20] * 5 + [3]


def test_batch_errors() -> None:
    order = np.arange(3)
    with pytest.raises(ValueError, match="cannot be shared among 4"):
        epoch_batches(order, 2, 0, 4)
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        epoch_batches(order, 2, 2, 2)
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(order, 0)


def test_derive_seed_separates_streams() -> None:
    seeds = {derive_seed(42, e, tag) for e in range(50) for tag in (1, 2, 3)}
    assert len(seeds) == 150
    assert all(0 <= s < 2**63 for s in seeds)
