"""``bitsback test FILE.bbz...``: decode files as decompress would and write nothing (gzip -t)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test",
        help="check that .bbz files decode, writing nothing",
        description=(
            "Decode every frame of each file exactly as 'bitsback decompress' does (same model "
            "lookup, same checks) and discard the images. Prints 'FILE: OK, ...' per file and "
            "exits 0, or one error line for the first file that fails and exits 2."
        ),
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE", help="compressed files")
    from bitsback_core.cli.commands.decompress import add_decode_options

    add_decode_options(parser)
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import math
    import time

    from bitsback_core.compression.container import CompressedFile
    from bitsback_core.pipeline.files import float_arithmetic_warning, iter_decoded_frames
    from bitsback_core.pipeline.frames import default_jobs, parse_frame_range
    from bitsback_core.pipeline.prechecks import check_gpu
    from bitsback_core.registry import load_registry

    check_gpu(args.gpu)
    frames = None if args.frames is None else parse_frame_range(args.frames)
    if args.jobs is not None:
        default_jobs(args.jobs, 1)  # refuses a count below 1
    registry = load_registry()
    for path in args.inputs:
        # Read once, warn before decoding, decode the parsed file: as decompress does.
        container = CompressedFile.read(path)
        if not container.header.portable:
            terminal.warn(float_arithmetic_warning(str(path)))
        started = time.perf_counter()
        with terminal.tasks() as progress:  # frame by frame: nothing is kept
            decoded = iter_decoded_frames(
                container,
                registry,
                args.checkpoint,
                args.gpu,
                progress,
                str(path),
                frames=frames,
                jobs=args.jobs,
            )
            count = sum(images.shape[0] for _, images in decoded)
        seconds = time.perf_counter() - started
        header = container.header
        bpd = 8 * path.stat().st_size / (header.num_images * math.prod(header.image_shape))
        rate = count / seconds if seconds > 0 else 0.0
        fields = ["OK", f"{count:,} images", f"{bpd:.4f} bits/dim", f"{rate:,.0f} img/s"]
        terminal.result_fields(str(path), fields)
    return 0
