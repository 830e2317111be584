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
            "Decode a file written by 'bitsback compress'. The file names its model by identity "
            "(a SHA-256); without --checkpoint the project's own models (checkpoints/) are searched "
            "for it. A --checkpoint given must have that identity too."
        ),
    )
    parser.add_argument("input", type=Path, help="compressed file")
    parser.add_argument("--output", "-o", type=Path, required=True, help=".npy file to write")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="model.pt to decode with (default: the project's model with the file's identity)",
    )
    parser.add_argument("--gpu", type=int, default=-1, help="CUDA device index; -1 for the CPU")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import io

    import numpy as np

    from bitsback_core.compression.container import CompressedFile, write_new_file
    from bitsback_core.pipeline.files import decode_container, float_arithmetic_warning
    from bitsback_core.registry import load_registry

    if args.output.exists() and not args.force:
        raise FileExistsError(f"{args.output} already exists (use --force to overwrite)")
    container = CompressedFile.read(args.input)
    if not container.header.portable:
        terminal.warn(float_arithmetic_warning(str(args.input)))
    with terminal.tasks() as progress:
        images, _ = decode_container(
            container, load_registry(), args.checkpoint, args.gpu, progress, name=str(args.input)
        )
    buffer = io.BytesIO()
    np.save(buffer, images, allow_pickle=False)
    write_new_file(args.output, buffer.getvalue(), overwrite=args.force)
    terminal.result(f"wrote {args.output}: {images.shape[0]} images of shape {images.shape[1:]}")
    return 0
