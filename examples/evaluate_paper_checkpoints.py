"""Ideal bitrates of the paper's checkpoints on the dynamically binarized EMNIST test set.

Reproduces the acceptance figures: the negative ELBO of the model trained with the ELBO
(num=1), the negative IWAE-5 bound of the num=5 model and the negative IWAE-50 bound of
the num=50 model (paper, MNIST -> MNIST: 0.2382 / 0.2335 / 0.2305 bits/dim).

Usage (from the repository root)::

    PYTHONPATH=.:plugins python examples/evaluate_paper_checkpoints.py \
        [--split mnist] [--limit N] [--device cpu] [--data-dir ../shared/data/emnist]
"""

from __future__ import annotations

import argparse
import gzip
import struct
import time
from pathlib import Path

import numpy as np

from bitsback_vae.bounds import bounds_bpd
from bitsback_vae.model import BinaryVAE

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

#: (checkpoint particles, evaluation particles, which bound, paper value for mnist->mnist)
SETTINGS = (
    (1, 1, "elbo_bpd", 0.2382),
    (5, 5, "iwae_bpd", 0.2335),
    (50, 50, "iwae_bpd", 0.2305),
)


def read_emnist_images(path: Path) -> np.ndarray:
    """Read a gzip IDX image file; EMNIST stores images transposed, so flip them upright."""
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"{path}: not an IDX image file (magic {magic})")
        pixels = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    if pixels.size != n * rows * cols:
        raise ValueError(f"{path}: truncated ({pixels.size} of {n * rows * cols} pixels)")
    return pixels.reshape(n, rows, cols).transpose(0, 2, 1).reshape(n, rows * cols)


def binarize(intensities: np.ndarray, seed: int) -> np.ndarray:
    """Dynamic binarization: pixel ~ Bernoulli(intensity / 255) with a PCG64 generator."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return (rng.random(intensities.shape) < intensities / 255.0).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="mnist", choices=("mnist", "letters"))
    parser.add_argument("--data-dir", type=Path, default=SHARED / "data" / "emnist")
    parser.add_argument(
        "--checkpoint-dir", type=Path, default=SHARED / "checkpoints" / "mcbits-paper"
    )
    parser.add_argument("--train-split", default=None, help="checkpoints' split (default: --split)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--binarize-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    images = read_emnist_images(args.data_dir / f"emnist-{args.split}-test-images-idx3-ubyte.gz")
    if args.limit is not None:
        images = images[: args.limit]
    x = binarize(images, args.binarize_seed)
    train_split = args.train_split or args.split
    print(f"EMNIST {args.split} test: {len(x)} images, binarization seed {args.binarize_seed}")
    for ckpt_particles, particles, key, paper in SETTINGS:
        ckpt = args.checkpoint_dir / f"train_bin_emnist_split={train_split}_num={ckpt_particles}"
        model = BinaryVAE.from_config(
            {"latent_dim": 50}, checkpoint=ckpt / "model.pt", device=args.device
        )
        start = time.perf_counter()
        result = bounds_bpd(model, x, particles, seed=args.seed, batch_size=args.batch_size)
        elapsed = time.perf_counter() - start
        name = "ELBO" if key == "elbo_bpd" else f"IWAE-{particles}"
        reference = f" (paper {paper:.4f})" if args.split == train_split == "mnist" else ""
        print(
            f"{ckpt.name}: negative {name} = {result[key]:.4f} bits/dim{reference}; "
            f"negative ELBO = {result['elbo_bpd']:.4f}; {elapsed:.1f} s"
        )


if __name__ == "__main__":
    main()
