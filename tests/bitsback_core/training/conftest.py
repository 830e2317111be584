"""Fixtures for the training tests: a tiny, learnable EMNIST-named dataset on disk.

The images are written with the EMNIST plugin's own IDX writer under the official file
names, so the trainer reads them through the registry exactly as it reads real EMNIST.
Each image lights one of four quadrants (plus faint noise elsewhere), so a VAE can learn
the structure within a few epochs and its loss visibly drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from bitsback_emnist.idx import write_idx_images, write_idx_labels


def quadrant_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` upright 28x28 uint8 images, each with one bright quadrant, and its labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n).astype(np.uint8)
    images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 2)
        images[i, r * 14 : (r + 1) * 14, col * 14 : (col + 1) * 14] = 235
    return images, labels


def write_tiny_emnist(
    directory: Path, split: str = "mnist", n_train: int = 128, n_test: int = 48
) -> Path:
    """EMNIST ``split`` train/test files in ``directory`` (images stored transposed)."""
    directory.mkdir(parents=True, exist_ok=True)
    for part, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = quadrant_images(n, seed)
        write_idx_images(
            directory / f"emnist-{split}-{part}-images-idx3-ubyte.gz", images.transpose(0, 2, 1)
        )
        write_idx_labels(directory / f"emnist-{split}-{part}-labels-idx1-ubyte.gz", labels)
    return directory


@pytest.fixture
def tiny_emnist(tmp_path: Path) -> Path:
    """A data directory holding tiny EMNIST ``mnist`` and ``letters`` splits."""
    data = tmp_path / "data"
    write_tiny_emnist(data, "mnist")
    write_tiny_emnist(data, "letters", n_train=64, n_test=32)
    return data


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny networks train fastest single-threaded (and the CI machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
