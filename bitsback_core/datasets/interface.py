"""The dataset interface: the observations a model is trained on and a coder compresses.

Minimal plugin::

    class Toy(Dataset):
        PLUGIN_NAME = "Toy"
        SPLITS = ("default",)
        def __init__(self, data_dir, split, train): self._x = ...
        def __len__(self): return len(self._x)
        def intensities(self, indices): return self._x[indices]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from bitsback_core.errors import BitsbackError

__all__ = ["Dataset"]


class Dataset(ABC):
    """A finite set of grayscale images, read from ``data_dir``.

    ``intensities`` gives uint8 arrays of shape ``(n, obs_dim)`` (flattened, upright);
    ``binarized`` draws each pixel ~ Bernoulli(intensity / 255) with a seed, so the same
    seed and indices always give the same binary images.
    """

    PLUGIN_NAME: ClassVar[str]
    ALIASES: ClassVar[tuple[str, ...]] = ()
    #: The splits this dataset understands (e.g. ``("mnist", "letters")``).
    SPLITS: ClassVar[tuple[str, ...]] = ()
    #: One line for the user when the images did not come from the data directory (e.g. a
    #: packaged sample stood in for missing files); None when they did.
    notice: str | None = None

    @classmethod
    def download(
        cls,
        data_dir: Path,
        progress: Callable[[int, int | None], None] | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Fetch and verify the dataset's files into ``data_dir``; returns the installed paths.

        Datasets without a public archive keep this default, which says so.
        """
        raise BitsbackError(
            f"dataset {cls.PLUGIN_NAME} has no downloader: put its files in {data_dir} by hand"
        )

    @abstractmethod
    def __init__(self, data_dir: Path, split: str, train: bool) -> None:
        """Open the files for ``split`` (train or test part) under ``data_dir``."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of images actually present (never assume the official counts)."""

    @abstractmethod
    def intensities(self, indices: np.ndarray | slice) -> np.ndarray:
        """Uint8 pixel intensities, shape ``(n, obs_dim)``."""

    def binarized(self, indices: np.ndarray | slice, seed: int) -> np.ndarray:
        """Dynamic binarization: pixel ~ Bernoulli(intensity / 255), seeded per image.

        Image ``i`` draws from a generator seeded with ``(seed, i)``, so its bits do not
        depend on which other images are requested with it: a 500-image subset holds
        exactly the same binary images as the whole set.
        """
        positions = np.arange(len(self))[indices]
        x = self.intensities(indices).astype(np.float64) / 255.0
        out = np.empty(x.shape, dtype=np.uint8)
        for row, index in enumerate(np.atleast_1d(positions)):
            rng = np.random.Generator(np.random.PCG64([seed, int(index)]))
            out[row] = rng.random(x.shape[1]) < x[row]
        return out
