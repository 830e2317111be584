"""``bitsback quantize``: show (and optionally save) a checkpoint's portable model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "quantize",
        help="convert a float checkpoint to portable (integer) arithmetic and show its identity",
        description=(
            "Convert the model given by --checkpoint or --train_config (default: the project's "
            "own) to portable arithmetic, as compress and decompress do on load, and print the "
            "portable model's sha256 (what files record), each layer's weight scale and the "
            "distance of its posterior from the float model's. -o writes the integers (.npz)."
        ),
    )
    parser.add_argument(
        "-o", "--out", type=Path, default=None, help="write the integer weights here (.npz)"
    )
    parser.add_argument("-f", "--force", action="store_true", help="overwrite --out if it exists")
    # dataset and split pick the default model; the seed draws the probe images.
    add_config_options(
        parser, groups=("model", "output"), extra=("dataset", "split", "seed", "portable_format")
    )
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.quantize import quantize_model
    from bitsback_core.registry import load_registry

    config = config_from_args(args, terminal.info)
    result = quantize_model(config, load_registry(), args.out, overwrite=args.force)
    if config.json:
        terminal.json(result.as_dict())
        return 0
    rows = [
        (name, f"2^-{bits}", result.products.get(name, "float64"))
        for name, bits in result.layers.items()
    ]
    terminal.table(
        f"portable model, format {result.portable_format}: fixed-point weights",
        ["layer", "weight unit", "exact products in"],
        rows,
    )
    terminal.result(f"from {result.checkpoint}")
    terminal.result(f"sha256: {result.identity}")
    terminal.result(
        f"vs float posterior: mean within {result.max_mean_error:.1e}, log std within {result.max_log_std_error:.1e}"
    )
    if result.output:
        terminal.result(f"wrote {result.output}")
    return 0
