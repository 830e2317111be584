"""Config handling shared by every command that takes a :class:`~bitsback_core.config.Config`.

A command calls :func:`add_config_options` at the end of its ``add_parser`` and
:func:`config_from_args` in ``run``::

    def add_parser(subparsers):
        parser = subparsers.add_parser("run", help="...")
        parser.add_argument("input")          # the command's own arguments first
        add_config_options(parser, defaults={"batch_size": 100})
        return parser

    def run(args, terminal):
        config = config_from_args(args)       # defaults < --config file < --key value

Every config key becomes an option (``--num_particles 50``, ``--coder=CISBitsBackCoder``,
``--binarize false``, ``--datadir null``), collected as strings and validated by
:meth:`Config.from_sources`. Keys the command already defines as options itself are left
to the command. An unknown ``--key`` reaches :func:`reject_unknown`, which names the closest
known key.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from bitsback_core.config import Config, config_keys, describe_key
from bitsback_core.errors import ConfigError

__all__ = ["add_config_options", "config_from_args", "reject_unknown", "takes_config"]

# The --config flag fills the ``config`` key itself, so it is not an override.
_NOT_OVERRIDABLE = frozenset({"config"})


class _Override(argparse.Action):
    """Store ``--key value`` as ``args.config_overrides[key] = value`` (a string)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.key = dest
        super().__init__(option_strings, dest=f"_override_{dest}", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        overrides = dict(getattr(namespace, "config_overrides", None) or {})
        overrides[self.key] = values
        namespace.config_overrides = overrides


def add_config_options(
    parser: argparse.ArgumentParser, *, defaults: Mapping[str, Any] | None = None
) -> None:
    """Add ``--config PATH`` and one ``--<key> VALUE`` option per config key.

    ``defaults`` are this command's own defaults (typed values), below the config file.
    Call it after the command's own arguments: keys already defined are skipped.
    """
    defaults = dict(defaults or {})
    base = Config.from_sources(None, {}, defaults=defaults)  # validates the defaults early
    if parser.usage is None:  # keep the usage line short: not all 45 keys
        own = parser.format_usage().removeprefix("usage: ").strip()
        parser.usage = f"{own} [--config PATH] [--KEY VALUE ...]".replace("%", "%%")
    parser.add_argument(
        "--config",
        dest="config_file",
        type=Path,
        default=None,
        metavar="PATH",
        help="YAML config file; the options below override its values",
    )
    group = parser.add_argument_group("config keys (override the config file)")
    for key in config_keys():
        if key in _NOT_OVERRIDABLE:
            continue
        shown_default = getattr(base, key)
        help_text = f"{describe_key(key)}; default: {_yaml_word(shown_default)}"
        is_flag = attrs.fields_dict(Config)[key].metadata["type"] is bool
        try:
            group.add_argument(
                f"--{key}",
                action=_Override,
                dest=key,
                default=argparse.SUPPRESS,
                nargs="?" if is_flag else None,
                const="true" if is_flag else None,
                metavar="BOOL" if is_flag else "VALUE",
                help=help_text.replace("%", "%%"),
            )
        except argparse.ArgumentError:
            continue  # the command defines this option with its own meaning
    parser.set_defaults(config_overrides={}, config_defaults=defaults)


def takes_config(args: argparse.Namespace) -> bool:
    """Whether the parsed command was set up with :func:`add_config_options`."""
    return hasattr(args, "config_overrides")


def config_from_args(args: argparse.Namespace) -> Config:
    """The command's config: its defaults < ``--config`` file < ``--key value`` options."""
    if not takes_config(args):
        raise TypeError("this command was not set up with add_config_options()")
    return Config.from_sources(
        args.config_file, args.config_overrides, defaults=args.config_defaults
    )


def reject_unknown(extras: Sequence[str]) -> None:
    """Raise a ConfigError for leftover arguments, suggesting the closest config key."""
    for arg in extras:
        if arg.startswith("--"):
            key = arg[2:].split("=", 1)[0]
            close = difflib.get_close_matches(key.replace("-", "_"), config_keys(), n=1)
            hint = f"; did you mean --{close[0]}?" if close else ""
            raise ConfigError(f"unknown option --{key}{hint}")
    raise ConfigError(f"unexpected arguments: {' '.join(extras)}")


def _yaml_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
