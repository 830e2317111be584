"""``bitsback test``: decode a .bbz file as decompress would and write nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test",
        help="check that a .bbz file decodes, writing nothing",
        description=(
            "Decode every frame of a file exactly as 'bitsback decompress' does (same model "
            "lookup, same checks) and discard the images. Prints 'FILE: OK, ...' and exits 0, "
            "or one error line and exits 2."
        ),
    )
    parser.add_argument("input", type=Path, help="compressed file")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="model.pt to decode with (default: the project's model with the file's identity)",
    )
    parser.add_argument("--gpu", type=int, default=-1, help="CUDA device index; -1 for the CPU")
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import math

    from bitsback_core.compression.container import CompressedFile
    from bitsback_core.pipeline.files import decode_container, float_arithmetic_warning
    from bitsback_core.registry import load_registry

    # Read once, warn before decoding, decode the parsed file: as decompress does.
    container = CompressedFile.read(args.input)
    if not container.header.portable:
        terminal.warn(float_arithmetic_warning(str(args.input)))
    with terminal.tasks() as progress:
        images, header = decode_container(
            container, load_registry(), args.checkpoint, args.gpu, progress, name=str(args.input)
        )
    bpd = 8 * args.input.stat().st_size / (header.num_images * math.prod(header.image_shape))
    terminal.result(f"{args.input}: OK, {images.shape[0]} images, {bpd:.4f} bits/dim")
    return 0
