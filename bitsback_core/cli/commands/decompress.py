"""``bitsback decompress FILE.bbz...``: ``.bbz`` files back to images, shaped like gunzip.

The default output strips ``.bbz`` (``x.npy.bbz`` -> ``x.npy``); a name not ending in
``.bbz`` needs ``-o``. The output's name says what is written: ``.npy``, ``.npz`` (one
array, ``images``), anything else a folder of PNGs (2-D images only). ``-o -`` or ``-c``
writes the .npy to stdout; ``-`` reads the .bbz from stdin. Inputs are kept unless
``--rm``, which deletes one only after its output is written.

Every input's header is parsed and checked, and every output place checked, before the
first frame is decoded; outputs are written atomically (never half a file or folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.pipeline.prechecks import STDIO

if TYPE_CHECKING:
    import numpy as np

    from bitsback_core.cli.terminal import Terminal
    from bitsback_core.compression.container import CompressedFile
    from bitsback_core.registry import Registry


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decompress",
        help="decompress .bbz files into .npy, .npz or folders of PNGs",
        description=(
            "Decode files written by 'bitsback compress'. FILE.bbz is written to FILE (x.npy.bbz "
            "-> x.npy); an output ending in .npy or .npz gets that format, any other name a "
            "folder of PNGs (000000.png, ...). '-' reads from stdin; -o - writes a .npy to "
            "stdout. The file names its model by identity (a SHA-256); without --checkpoint "
            "the installed models are searched for it. A --checkpoint given must have that "
            "identity too."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE", help="compressed files ('-': stdin)")
    parser.add_argument(
        "--output", "-o", default=None, metavar="PATH", help="output (one input only; '-': stdout)"
    )
    parser.add_argument(
        "--stdout", "-c", action="store_true", help="write a .npy to stdout (as -o -)"
    )
    parser.add_argument("--force", "-f", action="store_true", help="overwrite existing outputs")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", "-k", action="store_true", help="keep the inputs (the default)")
    keep.add_argument(
        "--rm", action="store_true", help="delete each input once its output is written"
    )
    add_decode_options(parser)
    return parser


def add_decode_options(parser: argparse.ArgumentParser) -> None:
    """--checkpoint, --gpu, --frames and --jobs (``bitsback test`` takes them too)."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="model.pt to decode with (default: the installed model with the file's identity)",
    )
    parser.add_argument("--gpu", type=int, default=-1, help="CUDA device index; -1 for the CPU")
    parser.add_argument(
        "--frames",
        default=None,
        metavar="A:B",
        help="decode only frames A..B-1 (slice; either end optional; K alone: frame K)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="processes decoding frames (default: one per CPU and frame; 1: this one)",
    )


def plan_outputs(args: argparse.Namespace) -> list[str]:
    """Each input's output (``-``: stdout), from the options alone; refuses conflicts."""
    from bitsback_core.errors import ConfigError
    from bitsback_core.pipeline.prechecks import decompressed_name, route_outputs

    outputs = route_outputs(
        args.inputs, args.output, args.stdout, decompressed_name,
        "without -o each FILE.bbz is written to FILE",
    )  # fmt: skip
    if STDIO in outputs and sys.stdout.isatty():
        raise ConfigError("refusing to write a .npy to a terminal: redirect stdout or use -o PATH")
    return outputs


def _parse(source: str) -> CompressedFile:
    from bitsback_core.compression.container import CompressedFile

    if source == STDIO:
        return CompressedFile.from_bytes(sys.stdin.buffer.read(), name="stdin")
    return CompressedFile.read(Path(source))


def _check_inputs(
    args: argparse.Namespace, outputs: list[str], frames: slice | None
) -> dict[str, CompressedFile]:
    """Every input's header and every output, checked before any decoding.

    Files are parsed again when decoded, so only one is held in memory at a time; stdin
    cannot be read twice, so its parsed file is returned to be kept.
    """
    from bitsback_core.pipeline.frames import select_frames
    from bitsback_core.pipeline.image_io import check_png_folder_output, output_kind
    from bitsback_core.pipeline.prechecks import check_output

    kept: dict[str, CompressedFile] = {}
    for source, output in zip(args.inputs, outputs):
        container = _parse(source)
        if source == STDIO:
            kept[source] = container
        header = container.header
        select_frames(header.num_frames, frames, "stdin" if source == STDIO else source)
        if output == STDIO:
            continue
        kind = output_kind(Path(output))
        check_output(Path(output), args.force, folder=kind == "png")
        if kind == "png":
            check_png_folder_output(Path(output), header.image_shape, args.force)
    return kept


def _decode_one(
    args: argparse.Namespace,
    container: CompressedFile,
    name: str,
    output: str,
    frames: slice | None,
    registry: Registry,
    progress: Any,
) -> tuple[np.ndarray, bool]:
    """Decode one file; a .npy output is written frame by frame as frames are decoded
    (bounded memory for any size), and then only a shape-and-dtype view comes back."""
    import numpy as np

    from bitsback_core.pipeline.files import decode_container, decompress_to_npy
    from bitsback_core.pipeline.image_io import output_kind

    if output != STDIO and output_kind(Path(output)) == "npy":
        count, header = decompress_to_npy(
            Path(name), Path(output), registry, args.checkpoint, args.gpu, progress,
            frames=frames, jobs=args.jobs, overwrite=args.force, container=container, name=name,
        )  # fmt: skip
        return np.broadcast_to(np.zeros((), header.dtype), (count, *header.image_shape)), True
    images, _ = decode_container(
        container, registry, args.checkpoint, args.gpu, progress, name=name,
        frames=frames, jobs=args.jobs,
    )  # fmt: skip
    return images, False


def _write(images: np.ndarray, output: str, force: bool) -> None:
    """Write decoded images to stdout (.npy), a PNG folder, or a .npy/.npz file."""
    from bitsback_core.compression.container import write_new_file
    from bitsback_core.pipeline.image_io import images_to_bytes, output_kind, write_png_folder

    if output == STDIO:
        sys.stdout.flush()
        sys.stdout.buffer.write(images_to_bytes(images, "npy"))
        sys.stdout.buffer.flush()
    elif output_kind(Path(output)) == "png":
        write_png_folder(images, Path(output), overwrite=force)
    else:
        write_new_file(Path(output), images_to_bytes(images, output_kind(Path(output))), force)


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import time

    from bitsback_core.pipeline.files import float_arithmetic_warning
    from bitsback_core.pipeline.frames import default_jobs, parse_frame_range
    from bitsback_core.pipeline.prechecks import check_distinct, check_gpu
    from bitsback_core.registry import load_registry

    # 1. Options, outputs and every input's header, checked before any decoding.
    outputs = plan_outputs(args)
    check_gpu(args.gpu)
    frames = None if args.frames is None else parse_frame_range(args.frames)
    if args.jobs is not None:
        default_jobs(args.jobs, 1)  # refuses a count below 1
    check_distinct(args.inputs, outputs)
    kept = _check_inputs(args, outputs, frames)

    # 2. Decode and write each in turn.
    registry = load_registry()
    for source, output in zip(args.inputs, outputs):
        container = kept.pop(source) if source in kept else _parse(source)
        name = "stdin" if source == STDIO else source
        if not container.header.portable:
            terminal.warn(float_arithmetic_warning(name))
        started = time.perf_counter()
        with terminal.tasks() as progress:
            images, streamed = _decode_one(
                args, container, name, output, frames, registry, progress
            )
        seconds = time.perf_counter() - started
        del container
        if not streamed:
            _write(images, output, args.force)
        if args.rm and source != STDIO:
            Path(source).unlink()
        head = "stdout" if output == STDIO else output
        terminal.result_fields(head, result_fields(images, seconds), to_stderr=output == STDIO)
    return 0


def result_fields(images: Any, seconds: float) -> list[str]:
    """The result line's fields: images, their shape and dtype, speed."""
    count = images.shape[0]
    shape = " x ".join(str(d) for d in images.shape[1:])
    rate = count / seconds if seconds > 0 else 0.0
    return [
        f"{count:,} images of {shape}",
        f"dtype {images.dtype}",
        f"{rate:,.0f} img/s",
        f"decode {seconds:.2f} s",
    ]
