"""EMNIST and MNIST as :class:`~bitsback_core.datasets.Dataset` plugins.

Both read the standard IDX gzip files from a data directory.  They differ in file names
and in orientation: NIST ships EMNIST images transposed (column-major), so each 28x28
image is transposed upright on load, the same correction torchvision applies; LeCun's
MNIST files are already upright.  Arrays are decoded on first use and cached in the
instance, and the sizes always come from the file headers, because the files at hand may
be subsets of the official sets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from bitsback_core.datasets import resolve_data_dir, subset_indices
from bitsback_core.datasets.interface import Dataset
from bitsback_emnist.idx import (
    IMAGES_MAGIC,
    IdxFormatError,
    read_idx_header,
    read_idx_images,
    read_idx_labels,
)
from bitsback_emnist.locate import (
    DATA_DIR_ENV,
    DatasetNotFoundError,
    default_data_dir,
    find_dataset_dir,
)
from bitsback_emnist.sample import SAMPLE_SPLIT, load_sample, sample_path

__all__ = ["EMNIST", "MNIST", "IdxDataset", "subset_indices"]


def _as_index(indices: np.ndarray | slice | int | list[int]) -> np.ndarray | slice:
    """Normalize an index so results are always 2-d (images) / 1-d (labels)."""
    if isinstance(indices, slice):
        return indices
    idx = np.asarray(indices)
    if idx.dtype == np.bool_:
        return idx
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"indices must be integers, a boolean mask or a slice, got dtype {idx.dtype}"
        )
    return idx.reshape(1) if idx.ndim == 0 else idx


class IdxDataset(Dataset):
    """Shared machinery for image sets stored as a pair of IDX files per split and part.

    Subclasses give the file names and whether images are stored transposed.
    """

    #: Image size every file must have: the models take flattened 28x28 images.
    IMAGE_SHAPE: ClassVar[tuple[int, int]] = (28, 28)
    #: Splits that are accepted but not advertised in ``SPLITS``.
    EXTRA_SPLITS: ClassVar[tuple[str, ...]] = ()
    #: Whether files hold images transposed (column-major), as NIST ships EMNIST.
    TRANSPOSED: ClassVar[bool] = False
    #: Subdirectory of the data directory also searched (``data/emnist`` layouts).
    SUBDIR: ClassVar[str | None] = None
    #: Whether ``bitsback download`` can fetch this dataset (shown in the error).
    DOWNLOADABLE: ClassVar[bool] = False

    def __init__(self, data_dir: Path | str | None, split: str, train: bool) -> None:
        if not isinstance(train, bool):
            raise ValueError(f"train must be True or False, got {train!r}")
        self.split = split
        self.train = train
        names = self.file_names(split, train)
        self._len: int | None = None
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        #: One line for the user when the data did not come from a data directory, else None.
        self.notice: str | None = None
        resolved = resolve_data_dir(data_dir)
        try:
            self.data_dir = find_dataset_dir(
                resolved,
                names,
                dataset=self.PLUGIN_NAME,
                subdir=self.SUBDIR,
                download_hint=self.DOWNLOADABLE,
            )
        except DatasetNotFoundError:
            if not self._use_sample(resolved, split, train):
                raise
            return
        self.images_path = self.data_dir / names[0]
        self.labels_path = self.data_dir / names[1]

    def _use_sample(self, data_dir: Path, split: str, train: bool) -> bool:
        """Whether the packaged sample stands in (subclasses that ship one override this)."""
        return False

    @classmethod
    def file_names(cls, split: str, train: bool) -> tuple[str, str]:
        """The ``(images, labels)`` file names of ``split``'s train or test part."""
        accepted = cls.SPLITS + cls.EXTRA_SPLITS
        if split not in accepted:
            raise ValueError(
                f"unknown {cls.PLUGIN_NAME} split {split!r}; choose one of {', '.join(accepted)}"
            )
        return cls._file_names(split, "train" if train else "test")

    @classmethod
    def _file_names(cls, split: str, part: str) -> tuple[str, str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        part = "train" if self.train else "test"
        return f"{type(self).__name__}(split={self.split!r}, {part}, dir={str(self.data_dir)!r})"

    def __len__(self) -> int:
        """Image count from the header: cheap, does not decode the images."""
        if self._len is None:
            if self._images is not None:
                self._len = len(self._images)
            else:
                self._len = read_idx_header(self.images_path, IMAGES_MAGIC).count
        return self._len

    @property
    def obs_dim(self) -> int:
        """Pixels per flattened image (784)."""
        return self.IMAGE_SHAPE[0] * self.IMAGE_SHAPE[1]

    def _load_images(self) -> np.ndarray:
        if self._images is None:
            raw = read_idx_images(self.images_path)
            if raw.shape[1:] != self.IMAGE_SHAPE:
                raise IdxFormatError(
                    f"{self.images_path} holds {raw.shape[1]}x{raw.shape[2]} images; "
                    f"{self.PLUGIN_NAME} needs {self.IMAGE_SHAPE[0]}x{self.IMAGE_SHAPE[1]}"
                )
            upright = raw.transpose(0, 2, 1) if self.TRANSPOSED else raw
            flat = np.ascontiguousarray(upright).reshape(len(raw), self.obs_dim)
            # Read-only: slices handed out are views, and must not alter the cache.
            flat.setflags(write=False)
            self._images = flat
            self._len = len(flat)
        return self._images

    def _load_labels(self) -> np.ndarray:
        if self._labels is None:
            labels = read_idx_labels(self.labels_path)
            if len(labels) != len(self):
                raise IdxFormatError(
                    f"{self.labels_path} holds {len(labels)} labels but "
                    f"{self.images_path} holds {len(self)} images"
                )
            self._labels = labels
        return self._labels

    def intensities(self, indices: np.ndarray | slice) -> np.ndarray:
        """Upright uint8 intensities, shape ``(n, 784)`` (read-only view for slices)."""
        return self._load_images()[_as_index(indices)]

    def labels(self, indices: np.ndarray | slice) -> np.ndarray:
        """Uint8 class labels, shape ``(n,)`` (EMNIST letters: 1..26, digits: 0..9)."""
        return self._load_labels()[_as_index(indices)]


class EMNIST(IdxDataset):
    """EMNIST (Cohen et al. 2017) from NIST's gzip IDX files, images transposed upright.

    ``SPLITS`` are the two the paper evaluates; the other official splits are accepted
    too when their files are present.
    """

    PLUGIN_NAME = "EMNIST"
    SPLITS = ("mnist", "letters")
    EXTRA_SPLITS = ("balanced", "byclass", "bymerge", "digits")
    TRANSPOSED = True
    SUBDIR = "emnist"
    DOWNLOADABLE = True

    def _use_sample(self, data_dir: Path, split: str, train: bool) -> bool:
        """The packaged ``mnist`` test sample, only when no data directory was configured.

        An explicit ``--datadir`` or ``BITSBACK_DATA_DIR`` that lacks the files stays an
        error: the user asked for those files. Only the default location (the per-user
        cache, which ``bitsback download`` fills) falls back, and says so in
        :attr:`notice`.
        """
        if train or split != SAMPLE_SPLIT or os.environ.get(DATA_DIR_ENV):
            return False
        if data_dir != default_data_dir():
            return False
        images, labels = load_sample()
        count = len(images)
        flat = np.ascontiguousarray(images).reshape(count, self.obs_dim)
        flat.setflags(write=False)
        self._images, self._labels, self._len = flat, labels, count
        self.data_dir = sample_path().parent
        self.images_path = self.labels_path = sample_path()
        self.notice = (
            f"no EMNIST data found: using the packaged sample of the first {count:,} mnist "
            f"test images (--datadir, ${DATA_DIR_ENV} or `bitsback download` give the full sets)"
        )
        return True

    @classmethod
    def download(
        cls,
        data_dir: Path,
        progress: Callable[[int, int | None], None] | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Fetch NIST's official archive, verify its MD5 and install the IDX files."""
        from bitsback_emnist import download

        return download.download_emnist(
            data_dir, url=download.OFFICIAL_URL, progress=progress, overwrite=overwrite
        )

    @classmethod
    def _file_names(cls, split: str, part: str) -> tuple[str, str]:
        return (
            f"emnist-{split}-{part}-images-idx3-ubyte.gz",
            f"emnist-{split}-{part}-labels-idx1-ubyte.gz",
        )


class MNIST(IdxDataset):
    """LeCun's original MNIST from the four standard gzip IDX files (stored upright)."""

    PLUGIN_NAME = "MNIST"
    SPLITS = ("mnist",)
    SUBDIR = "mnist"

    @classmethod
    def _file_names(cls, split: str, part: str) -> tuple[str, str]:
        prefix = "t10k" if part == "test" else "train"
        return (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
