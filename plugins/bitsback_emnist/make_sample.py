"""Regenerate the packaged EMNIST ``mnist`` test sample from the official IDX files.

    python -m bitsback_emnist.make_sample --datadir ../shared/data/emnist

Reads ``emnist-mnist-test-{images,labels}-*.gz`` with this package's own IDX reader,
keeps the first :data:`~bitsback_emnist.sample.SAMPLE_COUNT` images, turns them upright
(NIST stores them transposed) and writes them as a compressed ``.npz`` of uint8 arrays
into the package's ``sample/`` folder. The IDX files themselves are never copied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bitsback_emnist.datasets import EMNIST
from bitsback_emnist.sample import SAMPLE_COUNT, SAMPLE_SPLIT, sample_path

__all__ = ["main", "make_sample"]


def make_sample(data_dir: Path, output: Path, count: int = SAMPLE_COUNT) -> Path:
    """Write the first ``count`` upright test images of ``data_dir`` (and labels) to ``output``."""
    dataset = EMNIST(data_dir, SAMPLE_SPLIT, train=False)
    if len(dataset) < count:
        raise ValueError(
            f"{dataset.images_path} holds {len(dataset)} images; the sample needs {count}"
        )
    images = dataset.intensities(slice(0, count)).reshape(count, 28, 28)
    labels = dataset.labels(slice(0, count))
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as fh:
        np.savez_compressed(
            fh, images=np.ascontiguousarray(images), labels=np.ascontiguousarray(labels)
        )
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datadir", type=Path, required=True, help="folder with the EMNIST IDX files"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="default: the package's sample file"
    )
    args = parser.parse_args(argv)
    written = make_sample(args.datadir, args.output or sample_path())
    print(f"wrote {written} ({written.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
