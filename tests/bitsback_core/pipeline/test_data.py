"""``load_images``: the seeded, binarized subset of test images a command works on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from paper_paths import EMNIST_DIR

from bitsback_core.config import Config
from bitsback_core.datasets import subset_indices
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]


def test_images_are_binary_and_reproducible(make_config: MakeConfig, registry: Registry) -> None:
    config = make_config(num_compress=7)
    x = load_images(config, registry)
    assert x.shape == (7, 784) and x.dtype == np.uint8
    assert set(np.unique(x)) <= {0, 1}
    np.testing.assert_array_equal(x, load_images(config, registry))


def test_seed_picks_the_images_and_their_bits(make_config: MakeConfig, registry: Registry) -> None:
    x42 = load_images(make_config(num_compress=7, seed=42), registry)
    x43 = load_images(make_config(num_compress=7, seed=43), registry)
    assert not np.array_equal(x42, x43)


def test_the_subset_is_the_datasets_seeded_selection(
    make_config: MakeConfig, registry: Registry
) -> None:
    config = make_config(num_compress=6)
    dataset = registry.get("dataset", "EMNIST")(EMNIST_DIR, "mnist", False)
    indices = subset_indices(len(dataset), 6, 42)
    np.testing.assert_array_equal(load_images(config, registry), dataset.binarized(indices, 42))


def test_without_binarize_images_are_thresholded(
    make_config: MakeConfig, registry: Registry
) -> None:
    config = make_config(num_compress=4, binarize=False)
    dataset = registry.get("dataset", "EMNIST")(EMNIST_DIR, "mnist", False)
    expected = (dataset.intensities(subset_indices(len(dataset), 4, 42)) >= 128).astype(np.uint8)
    np.testing.assert_array_equal(load_images(config, registry), expected)


def test_limit_and_train_split(make_config: MakeConfig, registry: Registry) -> None:
    config = make_config(num_compress=500)
    assert load_images(config, registry, limit=3).shape == (3, 784)
    train = load_images(config, registry, train=True, limit=3)
    assert not np.array_equal(train, load_images(config, registry, limit=3))


def test_unknown_dataset_is_named(make_config: MakeConfig, registry: Registry) -> None:
    with pytest.raises(LookupError, match="CIFAR"):
        load_images(make_config(dataset="CIFAR"), registry)
