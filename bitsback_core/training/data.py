"""The images a training run sees: dynamic binarization per epoch, order, shards, test set.

Everything here is numpy and a pure function of ``(seed, epoch)``: a resumed run, a run
on another device and every rank of a distributed run draw the same bits and the same
order, which is what makes training reproducible and lets ranks split one shuffled
epoch without talking to each other.
"""

from __future__ import annotations

import attrs
import numpy as np

from bitsback_core.config import Config
from bitsback_core.datasets import Dataset, resolve_data_dir, subset_indices
from bitsback_core.registry import Registry

__all__ = [
    "DEFAULT_TEST_IMAGES",
    "TrainingData",
    "derive_seed",
    "epoch_batches",
    "epoch_images",
    "epoch_order",
    "load_training_data",
]

#: Test images the per-epoch test loss is measured on (a seeded subset, for speed).
DEFAULT_TEST_IMAGES = 2000

# Stream tags so the bits, the order and the noise of one epoch are independent draws.
_BITS, _ORDER = 1, 2
# Rows binarized per call: bounds the float32 scratch memory (4096 x 784 x 4 bytes).
_CHUNK = 4096


def derive_seed(*words: int) -> int:
    """A 63-bit seed from a tuple of non-negative ints (e.g. ``(seed, epoch, tag)``)."""
    state = np.random.SeedSequence([int(w) for w in words]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@attrs.frozen(eq=False)
class TrainingData:
    """Train intensities (binarized anew each epoch) and the fixed binary test subset."""

    train_intensities: np.ndarray  # uint8 (n_train, obs_dim)
    test_images: np.ndarray  # uint8 {0, 1} (n_test, obs_dim)
    test_indices: np.ndarray  # which test images (positions in the test split)
    binarize: bool
    train_source: str
    test_source: str

    @property
    def num_train(self) -> int:
        return int(self.train_intensities.shape[0])

    @property
    def mean_image(self) -> np.ndarray:
        """Per-pixel training mean in [0, 1]: the expected binarized image."""
        return self.train_intensities.mean(axis=0, dtype=np.float64) / 255.0


def _describe(dataset: Dataset) -> str:
    path = getattr(dataset, "images_path", None)
    return f"{path if path is not None else repr(dataset)} ({len(dataset)} images)"


def _held_out(
    train: Dataset, intensities: np.ndarray, count: int, config: Config
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the last ``count`` training images off as the validation set.

    Returns the remaining training intensities, the validation images (binarized once with
    ``seed``, or thresholded) and their positions in the training split. The last images
    are held out (not a random subset) so the split is obvious from the count alone.
    """
    n = intensities.shape[0]
    if count >= n:
        raise ValueError(
            f"validation_images ({count}) must leave training images (the split has {n})"
        )
    indices = np.arange(n - count, n)
    if config.binarize:
        valid = train.binarized(indices, config.seed)
    else:
        valid = (train.intensities(indices) >= 128).astype(np.uint8)
    return intensities[: n - count], np.ascontiguousarray(valid, dtype=np.uint8), indices


def load_training_data(
    config: Config, registry: Registry, test_images: int, validation_images: int = 0
) -> TrainingData:
    """Open ``config.dataset``'s train and test parts of ``config.split``.

    The test subset is ``subset_indices(len(test), test_images, seed)`` binarized once with
    ``seed`` (per image, exactly as ``bitsback run`` binarizes), so the test loss of every
    epoch is measured on the same bits. With ``validation_images > 0`` the test split is
    not opened at all: the last ``validation_images`` training images are held out and
    play its part (model selection then never sees a test image).
    """
    if isinstance(test_images, bool) or not isinstance(test_images, int) or test_images < 1:
        raise ValueError(f"test_images must be a positive int, got {test_images!r}")
    if validation_images:
        dataset_cls = registry.get("dataset", config.dataset)
        train = dataset_cls(resolve_data_dir(config.datadir), config.split, True)
        all_train = np.ascontiguousarray(train.intensities(slice(None)), dtype=np.uint8)
        kept, valid, indices = _held_out(train, all_train, validation_images, config)
        return TrainingData(
            train_intensities=np.ascontiguousarray(kept),
            test_images=valid,
            test_indices=indices,
            binarize=config.binarize,
            train_source=f"{_describe(train)}, less the last {validation_images}",
            test_source=f"the last {validation_images} images of {_describe(train)} (held out)",
        )
    dataset_cls = registry.get("dataset", config.dataset)
    data_dir = resolve_data_dir(config.datadir)
    train = dataset_cls(data_dir, config.split, True)
    test = dataset_cls(data_dir, config.split, False)
    if len(train) == 0:
        raise ValueError(f"the {config.dataset} {config.split!r} training set is empty")
    if len(test) == 0:
        raise ValueError(f"the {config.dataset} {config.split!r} test set is empty")
    intensities = np.ascontiguousarray(train.intensities(slice(None)), dtype=np.uint8)
    indices = subset_indices(len(test), test_images, config.seed)
    if config.binarize:
        test_x = test.binarized(indices, config.seed)
    else:
        test_x = (test.intensities(indices) >= 128).astype(np.uint8)
    return TrainingData(
        train_intensities=intensities,
        test_images=np.ascontiguousarray(test_x, dtype=np.uint8),
        test_indices=indices,
        binarize=config.binarize,
        train_source=_describe(train),
        test_source=_describe(test),
    )


def epoch_images(
    intensities: np.ndarray, seed: int, epoch: int, binarize: bool = True
) -> np.ndarray:
    """Epoch ``epoch``'s binary training images: pixel ~ Bernoulli(intensity / 255).

    One generator seeded with ``(seed, epoch)`` draws every image in dataset order, so the
    result does not depend on how the images are later batched or sharded. Without
    ``binarize`` the images are thresholded at half intensity (the same every epoch).
    """
    if not binarize:
        return (intensities >= 128).astype(np.uint8)
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, epoch, _BITS)))
    out = np.empty(intensities.shape, dtype=np.uint8)
    scale = np.float32(1.0 / 255.0)
    for start in range(0, intensities.shape[0], _CHUNK):
        block = intensities[start : start + _CHUNK]
        u = rng.random(block.shape, dtype=np.float32)
        target = out[start : start + _CHUNK]
        np.less(u, block.astype(np.float32) * scale, out=target, casting="unsafe")
    return out


def epoch_order(num_images: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of epoch ``epoch`` (a permutation of ``range(num_images)``)."""
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, epoch, _ORDER)))
    return rng.permutation(num_images)


def epoch_batches(
    order: np.ndarray, batch_size: int, rank: int = 0, world_size: int = 1
) -> list[np.ndarray]:
    """``rank``'s batches of one epoch: its contiguous slice of ``order``, in batches.

    Every rank gets ``len(order) // world_size`` images (the last ``len % world_size`` of
    the shuffled order sit out this epoch), hence the same number of optimizer steps,
    which synchronous data-parallel training requires. With one process nothing is
    dropped; the last batch may be smaller than ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of {world_size}")
    per_rank = len(order) // world_size
    if per_rank == 0:
        raise ValueError(
            f"{len(order)} training images cannot be shared among {world_size} processes"
        )
    mine = order[rank * per_rank : (rank + 1) * per_rank]
    return [mine[i : i + batch_size] for i in range(0, per_rank, batch_size)]
