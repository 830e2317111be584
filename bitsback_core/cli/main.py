"""The ``bitsback`` command line: a thin shell over one module per command.

Each name in :data:`COMMANDS` is a module ``bitsback_core.cli.commands.<name>`` with

* ``add_parser(subparsers) -> argparse.ArgumentParser``: add the command's sub-parser;
* ``run(args, terminal) -> int``: do the work, print through the
  :class:`~bitsback_core.cli.terminal.Terminal`, return the exit code.

Adding a command is one new module and one entry in :data:`COMMANDS`. Command modules are
imported only when needed (only the one being run; all of them for ``--help``) and keep
their heavy imports (torch, numpy) inside ``run``, so ``bitsback --version`` stays fast.

Exit codes: 0 success, 2 bad input (a :class:`~bitsback_core.errors.BitsbackError`,
``ValueError`` or missing file, shown as one red line; ``BITSBACK_DEBUG=1`` adds the
traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from bitsback_core import __version__
from bitsback_core.errors import BitsbackError

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal

__all__ = ["COMMANDS", "DEBUG_ENV_VAR", "build_parser", "command_module", "main"]

#: Command names, in the order ``--help`` lists them.
COMMANDS: list[str] = [
    "plugins",
    "models",
    "run",
    "evaluate",
    "compress",
    "decompress",
    "info",
    "test",
    "quantize",
    "download",
    "train",
    "bench",
]
#: Set to 1 to see tracebacks of user errors.
DEBUG_ENV_VAR = "BITSBACK_DEBUG"

# Errors caused by what the user typed or pointed at: reported in one line, exit code 2.
_USER_ERRORS: tuple[type[BaseException], ...] = (
    BitsbackError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def command_module(name: str) -> ModuleType:
    """Import the module implementing command ``name``."""
    return importlib.import_module(f"{__package__}.commands.{name}")


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser with a sub-parser for each of ``commands`` (default: all)."""
    parser = argparse.ArgumentParser(
        prog="bitsback",
        description="Lossless compression with bits-back coding on latent-variable models.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"bitsback {__version__}")
    # No prefix matching: "--num_particle 3" must be an error, not --num_particles.
    # typeshed wants a class for parser_class; argparse only calls it, so a partial works.
    subparsers = parser.add_subparsers(  # type: ignore[call-overload]
        dest="command",
        metavar="COMMAND",
        title="commands",
        required=True,
        parser_class=functools.partial(argparse.ArgumentParser, allow_abbrev=False),
    )
    for name in COMMANDS if commands is None else commands:
        command_module(name).add_parser(subparsers)
    return parser


def _commands_needed(argv: Sequence[str]) -> list[str]:
    """Only the command being run needs importing; help and typos need every name."""
    if argv and argv[0] in COMMANDS:
        return [argv[0]]
    if argv and argv[0] == "--version":
        return []
    return list(COMMANDS)


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in ("1", "true", "yes")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bitsback`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    terminal: Terminal | None = None

    def term() -> Terminal:
        nonlocal terminal
        if terminal is None:
            from bitsback_core.cli.terminal import Terminal

            terminal = Terminal()
        return terminal

    try:
        parser = build_parser(_commands_needed(arguments))
        args, extras = parser.parse_known_args(arguments)
        if extras:
            from bitsback_core.cli.options import reject_unknown, takes_config

            if not takes_config(args):
                parser.error(f"unrecognized arguments: {' '.join(extras)}")
            reject_unknown(extras, args)
        code = command_module(args.command).run(args, term())
        return 0 if code is None else int(code)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        term().error(str(exc.code))
        return 1
    except KeyboardInterrupt:
        term().error("interrupted")
        return 130
    except _USER_ERRORS as exc:
        if _debug():
            term().exception(exc)
        term().error(str(exc) or type(exc).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
