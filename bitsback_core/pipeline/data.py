"""Loading the binarized images a command works on."""

from __future__ import annotations

import numpy as np

from bitsback_core.config import Config
from bitsback_core.datasets import resolve_data_dir, subset_indices
from bitsback_core.datasets.interface import Dataset
from bitsback_core.registry import Registry

__all__ = ["load_images", "open_dataset"]


def open_dataset(config: Config, registry: Registry, train: bool = False) -> Dataset:
    """The configured dataset's train or test part (its ``notice`` says where data came from)."""
    dataset_cls = registry.get("dataset", config.dataset)
    return dataset_cls(resolve_data_dir(config.datadir), config.split, train)


def load_images(
    config: Config,
    registry: Registry,
    train: bool = False,
    limit: int | None = None,
    dataset: Dataset | None = None,
) -> np.ndarray:
    """The seeded subset of ``limit`` (default ``num_compress``) images, binarized with ``seed``.

    With ``binarize: false`` the images are thresholded at half intensity instead, so
    they are still binary and the same on every run. ``dataset``: one already opened
    with :func:`open_dataset`.
    """
    dataset = open_dataset(config, registry, train) if dataset is None else dataset
    num = config.num_compress if limit is None else limit
    indices = subset_indices(len(dataset), num, config.seed)
    if config.binarize:
        return dataset.binarized(indices, config.seed)
    return (dataset.intensities(indices) >= 128).astype(np.uint8)
