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
            "compared with the input; a file that does not decode is not kept."
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
    add_config_options(parser)
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    import attrs
    import numpy as np

    from bitsback_core.pipeline.data import load_images
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
            config, registry, images, args.output, args.force, progress, verify=args.verify
        )
    if config.json:
        terminal.json({**attrs.asdict(result), "file_bpd": result.file_bpd})
    else:
        verified = "not verified" if result.verify_s is None else f"verify {result.verify_s:.2f} s"
        terminal.result(
            f"wrote {result.path}: {result.num_images} images, {result.file_bytes} bytes "
            f"({result.file_bpd:.4f} bits/dim with header), net {result.net_bits / (result.num_images * result.obs_dim):.4f} "
            f"bits/dim, encode {result.encode_s:.2f} s, {verified}"
        )
    return 0
