"""``bitsback models``: the installed models by short name, with what each was trained for."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal

#: Hex digits of the sha256 shown in the table (``--json`` has all of them).
SHA_PREFIX = 12


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="list the installed models (names for --checkpoint / --train_config)",
        description=(
            "List the installed models: the project's own (shipped with the package), any "
            "under $BITSBACK_CHECKPOINTS and under ~/.cache/bitsback/models. Each name can be "
            "given wherever a model is taken (--checkpoint mnist-elbo). Binarized: the training "
            "images' kind, dynamic (each pixel drawn from its grey level, the paper's setting) "
            "or threshold (at half intensity, like most scans). Test bits/dim is the model's "
            "test loss in its own training bound, on test images of its kind."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.pipeline.components import model_catalogue, model_roots

    catalogue = model_catalogue()
    if args.json:
        terminal.json([entry.as_dict() for entry in catalogue.entries])
        return 0
    if not catalogue.entries:
        searched = ", ".join(str(root) for root in model_roots())
        terminal.warn(f"no models installed (searched {searched})")
        return 0
    rows = [
        (
            entry.name,
            entry.split,
            entry.binarization,
            entry.bound if entry.particles == 1 else f"{entry.bound}-{entry.particles}",
            "-" if entry.test_bpd is None else f"{entry.test_bpd:.4f}",
            entry.sha256()[:SHA_PREFIX],
        )
        for entry in catalogue.entries
    ]
    columns = ["name", "split", "binarized", "bound", "test bpd", "sha256"]
    terminal.table("installed models", columns, rows)
    return 0
