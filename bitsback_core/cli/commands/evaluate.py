"""``bitsback evaluate``: ideal bitrates of a trained model on the test images."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="ideal bitrates: negative ELBO and IWAE-K bounds in bits/dim",
        description=(
            "Evaluate the negative ELBO and the negative IWAE bound with --num_particles "
            "particles, in bits/dim, on --num_compress seeded test images, for a model given "
            "by --checkpoint or --train_config (default: the project's own checkpoint)."
        ),
    )
    # The bound needs the particles, the device and the arithmetic, but no coder.
    add_config_options(
        parser, groups=("data", "model", "output"), extra=("num_particles", "gpu", "arithmetic")
    )
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.evaluate import evaluate_bounds
    from bitsback_core.registry import load_registry

    config = config_from_args(args, terminal.info)
    result = evaluate_bounds(config, load_registry())
    for warning in result.warnings:
        terminal.warn(warning)
    if config.json:
        terminal.json(result.as_dict())
        return 0
    rows = [
        ("negative ELBO", f"{result.elbo_bpd:.4f}"),
        (f"negative IWAE-{result.num_particles}", f"{result.iwae_bpd:.4f}"),
    ]
    title = (
        f"{result.num_compress} {result.dataset}/{result.split} test images, {result.checkpoint}"
    )
    terminal.table(title, ["bound", "bits/dim"], rows)
    return 0
