"""Loading the binarized images a command works on."""

from __future__ import annotations

import numpy as np

from bitsback_core.config import Config
from bitsback_core.datasets import resolve_data_dir, subset_indices
from bitsback_core.registry import Registry

__all__ = ["load_images"]


def load_images(config: Config, registry: Registry, train: bool = False, limit: int | None = None) -> np.ndarray:
    """The seeded subset of ``limit`` (default ``num_compress``) images, binarized with ``seed``.

    With ``binarize: false`` the images are thresholded at half intensity instead, so
    they are still binary and the same on every run.
    """
    dataset_cls = registry.get("dataset", config.dataset)
    dataset = dataset_cls(resolve_data_dir(config.datadir), config.split, train)
    num = config.num_compress if limit is None else limit
    indices = subset_indices(len(dataset), num, config.seed)
    if config.binarize:
        return dataset.binarized(indices, config.seed)
    return (dataset.intensities(indices) >= 128).astype(np.uint8)
