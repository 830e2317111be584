"""Shared fixtures for the VAE plugin tests: paper checkpoints and EMNIST test images.

The data live in the read-only ``/work/shared`` folder next to the repository (never
copied in); tests that need them skip, with the reason, only when that folder is absent.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared"
CHECKPOINTS = SHARED / "checkpoints" / "mcbits-paper"
EMNIST_MNIST_TEST = SHARED / "data" / "emnist" / "emnist-mnist-test-images-idx3-ubyte.gz"


def read_idx_images(path: Path, limit: int | None = None) -> np.ndarray:
    """Tiny gzip IDX reader: magic 2051, big-endian n/rows/cols, then uint8 pixels.

    EMNIST stores each image transposed, so it is transposed back to upright; returns
    ``(n, rows * cols)`` uint8.
    """
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, f"{path} is not an IDX image file (magic {magic})"
        n = n if limit is None else min(n, limit)
        pixels = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return pixels.reshape(n, rows, cols).transpose(0, 2, 1).reshape(n, rows * cols)


def binarize(intensities: np.ndarray, seed: int) -> np.ndarray:
    """Pixel ~ Bernoulli(intensity / 255) with ``Generator(PCG64(seed))``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return (rng.random(intensities.shape) < intensities / 255.0).astype(np.uint8)


@pytest.fixture(scope="session")
def paper_checkpoint() -> Callable[[str], Path]:
    """``paper_checkpoint("train_bin_emnist_split=mnist_num=1")`` -> path of its model.pt."""
    if not CHECKPOINTS.is_dir():
        pytest.skip(f"paper checkpoints not available at {CHECKPOINTS}")

    def get(run: str) -> Path:
        return CHECKPOINTS / run / "model.pt"

    return get


@pytest.fixture(scope="session")
def emnist_mnist_200() -> np.ndarray:
    """The first 200 EMNIST mnist test images, binarized with seed 0, uint8 (200, 784)."""
    if not EMNIST_MNIST_TEST.is_file():
        pytest.skip(f"EMNIST test images not available at {EMNIST_MNIST_TEST}")
    return binarize(read_idx_images(EMNIST_MNIST_TEST, limit=200), seed=0)


@pytest.fixture(scope="session")
def mnist1_model(paper_checkpoint: Callable[[str], Path]):  # noqa: ANN201 (torch-typed)
    """The paper's ELBO-trained (num=1) mnist model on the CPU."""
    from bitsback_vae.model import BinaryVAE

    return BinaryVAE.from_config(
        {"latent_dim": 50}, checkpoint=paper_checkpoint("train_bin_emnist_split=mnist_num=1")
    )
