"""EMNIST / MNIST dataset plugin for bitsback: IDX reading, data location, download.

The download helpers import urllib and zipfile, so they are loaded on first access
(``bitsback_emnist.download_emnist``) to keep ``import bitsback_emnist`` cheap.
"""

from __future__ import annotations

from typing import Any

from bitsback_emnist.datasets import EMNIST, MNIST, IdxDataset, subset_indices
from bitsback_emnist.idx import IdxFormatError, read_idx_images, read_idx_labels
from bitsback_emnist.locate import DatasetNotFoundError, default_data_dir, resolve_data_dir

__all__ = [
    "EMNIST",
    "MNIST",
    "DatasetNotFoundError",
    "DownloadError",
    "IdxDataset",
    "IdxFormatError",
    "default_data_dir",
    "download_emnist",
    "read_idx_images",
    "read_idx_labels",
    "resolve_data_dir",
    "subset_indices",
]

_LAZY = {"DownloadError", "download_emnist", "OFFICIAL_URL", "OFFICIAL_MD5"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from bitsback_emnist import download

        return getattr(download, name)
    raise AttributeError(f"module 'bitsback_emnist' has no attribute {name!r}")
