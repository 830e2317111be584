"""``bitsback compress``: binary images (a .npy file, or the configured test images) to a file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compress",
        help="compress binary images into a .bbz file",
        description=(
            "Compress binary images with bits-back coding. The input is a .npy array of 0/1 "
            "images ((n, 784) or (n, 28, 28)); without --input, the seeded test images of "
            "the configured dataset/split (--num_compress) are compressed. Before reporting "
            "success the written file is decoded, as 'bitsback decompress' would decode it, and "
            "compared with the input; a file that does not decode is not kept. The file names its "
            "model by identity, never by path (docs/format.md)."
        ),
    )
    parser.add_argument("--input", "-i", type=Path, default=None, help=".npy file of binary images")
    parser.add_argument("--output", "-o", type=Path, required=True, help="compressed file to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not decode the written file to check it (decoding costs about the encode time)",
    )
    parser.add_argument(
        "--frame-images",
        dest="frame_images",
        type=_positive_int,
        default=None,
        metavar="N",
        help="images per frame (independent, checksummed messages; default 10000)",
    )
    add_config_options(parser)
    return parser


def _positive_int(text: str) -> int:
    """argparse type for --frame-images: a whole number of at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects a positive integer, got {text!r}")
    return value


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import attrs
    import numpy as np

    from bitsback_core.pipeline.data import load_images
    from bitsback_core.compression.container import DEFAULT_FRAME_IMAGES
    from bitsback_core.pipeline.files import compress_to_file
    from bitsback_core.registry import load_registry

    config = config_from_args(args)
    registry = load_registry()
    if args.input is not None:
        if not args.input.is_file():
            raise FileNotFoundError(f"{args.input} does not exist")
        try:
            images = np.load(args.input, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{args.input} is not a readable .npy array: {exc}") from None
    else:
        images = load_images(config, registry)
    with terminal.tasks() as progress:
        result = compress_to_file(
            config,
            registry,
            images,
            args.output,
            args.force,
            progress,
            verify=args.verify,
            frame_images=args.frame_images or DEFAULT_FRAME_IMAGES,
        )
    if config.json:
        terminal.json({**attrs.asdict(result), "file_bpd": result.file_bpd})
    else:
        verified = "not verified" if result.verify_s is None else f"verify {result.verify_s:.2f} s"
        net_bpd = result.net_bits / (result.num_images * result.obs_dim)
        terminal.result(
            f"wrote {result.path}: {result.num_images} images, {result.file_bytes} bytes "
            f"({result.header_bytes} header and framing, {result.num_frames} frame"
            f"{'s' if result.num_frames != 1 else ''}; {result.file_bpd:.4f} bits/dim with header), "
            f"net {net_bpd:.4f} bits/dim, encode {result.encode_s:.2f} s, {verified}"
        )
    return 0
