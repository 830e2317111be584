"""Held-out check: bitsback against classical codecs on binary images no model has seen.

The images are scikit-image's shipped samples (``skimage.data``: they come inside its
wheel, nothing is downloaded): a scanned page of text (``page``), printed text (``text``),
a silhouette (``horse``) and a photograph thresholded at half intensity (``camera``).
Each is thresholded (ink, or the brighter side, is 1), cut into 28 x 28 tiles (the models'
input; the last row and column padded with 0) and compressed with ``bitsback compress``
at its defaults (automatic model choice, per-frame fallback). The baselines code the same
tiles, and JBIG also codes the whole image as one page (its natural use, and the strongest
figure: no tile borders). Every file is decoded again and compared.

scikit-image is not a dependency of bitsback: ``pip install scikit-image`` first.

Usage: ``python examples/heldout_binary.py [--out DIR]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bitsback_core.pipeline.baselines import run_baselines

TILE = 28


def _images() -> dict[str, np.ndarray]:
    """The thresholded samples as bool arrays (1 = ink / foreground)."""
    from skimage import data

    return {
        "page": data.page() < 128,
        "text": data.text() < 128,
        "horse": ~data.horse(),
        "camera": data.camera() >= 128,
    }


def _tiles(image: np.ndarray) -> np.ndarray:
    """``(n, 28, 28)`` tiles in raster order, the edges padded with 0."""
    h = -(-image.shape[0] // TILE) * TILE
    w = -(-image.shape[1] // TILE) * TILE
    padded = np.zeros((h, w), dtype=bool)
    padded[: image.shape[0], : image.shape[1]] = image
    return padded.reshape(h // TILE, TILE, w // TILE, TILE).swapaxes(1, 2).reshape(-1, TILE, TILE)


def _bitsback(tiles: np.ndarray, folder: Path, name: str) -> tuple[int, str]:
    """Size of ``bitsback compress``'s file for the tiles, and what ``bitsback info`` says."""
    src = folder / f"{name}.npy"
    np.save(src, tiles)
    out = folder / f"{name}.bbz"
    subprocess.run(["bitsback", "compress", str(src), "-o", str(out), "-f"], check=True)
    back = folder / f"{name}.out.npy"
    subprocess.run(["bitsback", "decompress", str(out), "-o", str(back), "-f"], check=True)
    if not np.array_equal(np.load(back), tiles):
        raise SystemExit(f"{name}: bitsback's file did not decode to the tiles")
    info = subprocess.run(
        ["bitsback", "info", str(out), "--json"], check=True, capture_output=True, text=True
    )
    return out.stat().st_size, info.stdout


def _frame_codecs(info: str) -> str:
    """The codecs the file's frames used, from ``bitsback info --json``."""
    names = {0: "bits-back", 1: "bz2", 2: "context", 3: "backoff"}
    codecs = json.loads(info)["frame_codecs"]
    return ", ".join(sorted({names.get(c, str(c)) for c in codecs}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the files here")
    args = parser.parse_args(argv)
    folder = args.out or Path(tempfile.mkdtemp(prefix="bitsback-heldout-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(
        "| image | pixels (tiles) | bitsback bytes (frame codec) | JBIG page | JBIG tiles | codec 3 tiles | codec 2 tiles | bz2 tiles | bitsback - best classical |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, image in _images().items():
        tiles = _tiles(image)
        size, info = _bitsback(tiles, folder, name)
        flat = tiles.reshape(len(tiles), -1).astype(np.uint8)
        by_codec = {
            f"{r.codec} {r.scope}": r.compressed_bytes
            for r in run_baselines(flat, ["jbig", "backoff", "context", "bz2-rows"])
            if r.lossless
        }
        page = run_baselines(image.reshape(1, -1).astype(np.uint8), ["jbig"], image.shape)
        jbig_page = page[0].compressed_bytes if page and page[0].lossless else None
        classical = [v for v in [jbig_page, *by_codec.values()] if v is not None]
        row = [
            name,
            f"{image.shape[0]} x {image.shape[1]} ({len(tiles)})",
            f"{size:,} ({_frame_codecs(info)})",
            f"{jbig_page:,}" if jbig_page is not None else "-",
            *(f"{v:,}" for v in by_codec.values()),
            f"{size - min(classical):+,}",
        ]
        print("| " + " | ".join(row) + " |")
    print(f"\nfiles in {folder}; by-codec columns: {', '.join(by_codec)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
