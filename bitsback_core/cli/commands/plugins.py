"""``bitsback plugins``: list every registered component and where it came from."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bitsback_core.registry import ENV_VAR, KINDS, Entry, load_registry

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plugins",
        help="list registered models, proposals, discretizers, coders and datasets",
        description=(
            "List every component the installed plugins register: kind, name, aliases, "
            "plugin and distribution. BITSBACK_PLUGINS (comma-separated entry-point names) "
            "limits which plugins load; set it to an empty string to load none."
        ),
    )
    parser.add_argument(
        "--kind", choices=[kind.name for kind in KINDS], help="only components of this kind"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    return parser


def _as_json(entry: Entry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "name": entry.name,
        "aliases": list(entry.aliases),
        "plugin": entry.plugin,
        "distribution": (
            None if entry.dist is None else {"name": entry.dist.name, "version": entry.dist.version}
        ),
        "class": entry.class_path,
    }


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    entries = load_registry().entries(args.kind)
    if args.json:
        terminal.json([_as_json(entry) for entry in entries])
        return 0
    if not entries:
        terminal.warn(
            "no components registered: no bitsback plugin is installed"
            f" (or {ENV_VAR} excludes them)"
        )
        return 0
    rows = [
        (
            e.kind,
            e.name,
            ", ".join(e.aliases),
            e.plugin,
            "" if e.dist is None else str(e.dist),
        )
        for e in entries
    ]
    terminal.table(
        "Registered components", ["kind", "name", "aliases", "plugin", "distribution"], rows
    )
    return 0
