"""The packaged EMNIST ``mnist`` test sample: works with no data directory at all.

``sample/emnist-mnist-test-first1000.npz`` holds the first 1,000 images of the official
EMNIST ``mnist`` test file, upright, as uint8 intensities (``images``, shape
``(1000, 28, 28)``) with their labels (``labels``), re-encoded by
:mod:`bitsback_emnist.make_sample`. It exists so that ``bitsback run`` runs on a fresh clone
with no network; the full sets come from ``--datadir``, ``BITSBACK_DATA_DIR`` or
``bitsback download``. Image ``i`` of the sample is image ``i`` of the official file, so its
dynamic binarization (seeded by position) is the same as in the full set.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["SAMPLE_COUNT", "SAMPLE_NAME", "SAMPLE_SPLIT", "load_sample", "sample_path"]

#: File name of the sample inside the package's ``sample/`` folder.
SAMPLE_NAME = "emnist-mnist-test-first1000.npz"
#: The split and part the sample is taken from (only the ``mnist`` test part ships).
SAMPLE_SPLIT = "mnist"
#: Images in the sample: the first this many of the official test file.
SAMPLE_COUNT = 1000


def sample_path() -> Path:
    """Where the installed sample lives (inside the ``bitsback_emnist`` package)."""
    return Path(str(resources.files("bitsback_emnist").joinpath("sample", SAMPLE_NAME)))


def load_sample(path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 ``(n, 28, 28)`` upright intensities and uint8 ``(n,)`` labels.

    A missing or malformed file is a ``ValueError`` naming it (a broken install, not a
    user's mistake, but still one line rather than a traceback).
    """
    path = sample_path() if path is None else path
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"the packaged EMNIST sample {path} cannot be read ({exc})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"the packaged EMNIST sample {path} does not hold uint8 28x28 images")
    if labels.shape != (len(images),) or labels.dtype != np.uint8:
        raise ValueError(
            f"the packaged EMNIST sample {path} has labels that do not match its images"
        )
    return images, labels
