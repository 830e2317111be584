"""``bitsback download``: fetch and verify a dataset's official files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "download",
        help="download and verify a dataset's official files",
        description=(
            "Download a dataset's official archive (EMNIST: NIST's gzip.zip, MD5-checked) "
            "into --datadir, else $BITSBACK_DATA_DIR, else ~/.cache/bitsback/data. Offline or "
            "on a bad download it says which files to put where by hand."
        ),
    )
    parser.add_argument("--dataset", default="EMNIST", help="dataset plugin name (default EMNIST)")
    parser.add_argument("--datadir", type=Path, default=None, help="where to put the files")
    parser.add_argument("--force", action="store_true", help="replace existing files that differ")
    return parser


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.datasets import resolve_data_dir
    from bitsback_core.registry import load_registry

    dataset_cls = load_registry().get("dataset", args.dataset)
    data_dir = resolve_data_dir(args.datadir)
    with terminal.progress(f"download {dataset_cls.PLUGIN_NAME}") as bar:
        done = [0]

        def progress(received: int, total: int | None) -> None:
            bar.advance(received - done[0])
            done[0] = received

        paths = dataset_cls.download(data_dir, progress=progress, overwrite=args.force)
    for path in paths:
        terminal.result(str(path))
    return 0
