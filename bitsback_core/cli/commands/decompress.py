"""``bitsback decompress``: a .bbz file back to a .npy array of binary images."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decompress",
        help="decompress a .bbz file into a .npy array",
        description=(
            "Decode a file written by 'bitsback compress'. The model is the one recorded in "
            "the file (checked by its SHA-256); --checkpoint points at it if it moved."
        ),
    )
    parser.add_argument("input", type=Path, help="compressed file")
    parser.add_argument("--output", "-o", type=Path, required=True, help=".npy file to write")
    parser.add_argument("--checkpoint", default=None, help="model.pt, if not where the file says")
    parser.add_argument("--gpu", type=int, default=-1, help="CUDA device index; -1 for the CPU")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import io

    import numpy as np

    from bitsback_core.compression.container import write_new_file
    from bitsback_core.pipeline.files import decompress_file
    from bitsback_core.registry import load_registry

    if args.output.exists() and not args.force:
        raise FileExistsError(f"{args.output} already exists (use --force to overwrite)")
    with terminal.tasks() as progress:
        images, header = decompress_file(args.input, load_registry(), args.checkpoint, args.gpu, progress)
    buffer = io.BytesIO()
    np.save(buffer, images, allow_pickle=False)
    write_new_file(args.output, buffer.getvalue(), overwrite=args.force)
    terminal.result(f"wrote {args.output}: {images.shape[0]} images of shape {images.shape[1:]}")
    return 0
