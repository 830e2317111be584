"""Config handling shared by every command that takes a :class:`~bitsback_core.config.Config`.

A command calls :func:`add_config_options` at the end of its ``add_parser``, naming the
config groups it uses (:data:`~bitsback_core.config.GROUPS`), and :func:`config_from_args`
in ``run``::

    def add_parser(subparsers):
        parser = subparsers.add_parser("run", help="...")
        parser.add_argument("input")          # the command's own arguments first
        add_config_options(parser, groups=("data", "model", "coding", "output"))
        return parser

    def run(args, terminal):
        config = config_from_args(args, terminal.info)   # defaults < --config < --key value

Each key of those groups becomes an option (``--num_particles 50``,
``--coder=CISBitsBackCoder``, ``--binarize false``, ``--datadir null``), collected as
strings and validated by :meth:`Config.from_sources`. ``extra`` adds single keys of other
groups (``evaluate`` needs ``num_particles`` but no coder) and ``omit`` drops keys of the
named groups that the command does not read, so ``--help`` lists only keys that change
what the command does. Keys the command already defines as options itself are left to
the command.

A config file may set any key, so the paper's files load for every command: the keys the
command does not use are named once, in one line on stderr, and keep their defaults. An
option the command does not take is an error (:func:`reject_unknown`), which says whose
key it is or names the closest key the command takes.

The argparse types that commands' own options share live here too (:func:`positive_int`).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from bitsback_core.config import (
    GROUPS,
    OPTION_GROUPS,
    Config,
    config_keys,
    describe_key,
    file_keys,
    group_keys,
    key_group,
)
from bitsback_core.errors import ConfigError

__all__ = [
    "add_config_options",
    "command_keys",
    "config_from_args",
    "ignored_keys",
    "positive_int",
    "reject_unknown",
    "takes_config",
]

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


def command_keys(
    groups: Iterable[str] = OPTION_GROUPS, extra: Iterable[str] = (), omit: Iterable[str] = ()
) -> tuple[str, ...]:
    """The keys of ``groups`` plus ``extra`` minus ``omit``, in declaration order.

    Raises ValueError for a mistake in the declaration itself (a group that is not an
    option group, an extra key already in the groups or not an option, an omitted key
    outside the groups), so a command's slip fails when its parser is built.
    """
    groups, extra, omit = tuple(groups), tuple(extra), tuple(omit)
    not_options = [group for group in groups if group not in OPTION_GROUPS]
    if not_options:
        raise ValueError(
            f"config groups {', '.join(not_options)} are not options: "
            f"choose from {', '.join(OPTION_GROUPS)}"
        )
    chosen = set(group_keys(*groups))
    for key in extra:
        if key in chosen or key_group(key) not in OPTION_GROUPS:
            raise ValueError(f"extra config key {key!r} is already included or not an option")
    for key in omit:
        if key not in chosen:
            raise ValueError(f"omitted config key {key!r} is not in the groups {groups}")
    wanted = (chosen | set(extra)) - set(omit) - _NOT_OVERRIDABLE
    return tuple(key for key in config_keys() if key in wanted)


def add_config_options(
    parser: argparse.ArgumentParser,
    *,
    groups: Iterable[str] = OPTION_GROUPS,
    extra: Iterable[str] = (),
    omit: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Add ``--config PATH`` and one ``--<key> VALUE`` option per key the command uses.

    The command uses the keys of ``groups``, plus ``extra``, minus ``omit``
    (:func:`command_keys`); ``--help`` shows them under one heading per group.
    ``defaults`` are this command's own defaults (typed values, only for keys it uses),
    below the config file. Call it after the command's own arguments: keys already defined
    are skipped.
    """
    keys = command_keys(groups, extra, omit)
    defaults = dict(defaults or {})
    outside = sorted(set(defaults) - set(keys))
    if outside:
        raise ValueError(f"defaults for config keys the command does not use: {', '.join(outside)}")
    base = Config.from_sources(None, {}, defaults=defaults)  # validates the defaults early
    if parser.usage is None:  # keep the usage line short: not every key
        own = parser.format_usage().removeprefix("usage: ").strip()
        parser.usage = f"{own} [--config PATH] [--KEY VALUE ...]".replace("%", "%%")
    parser.add_argument(
        "--config",
        dest="config_file",
        type=Path,
        default=None,
        metavar="PATH",
        help="YAML config file; the options below override its values. It may set any key: "
        "keys this command does not use are named on stderr and ignored",
    )
    sections: dict[str, Any] = {}
    for key in keys:
        group = key_group(key)
        if group not in sections:
            sections[group] = parser.add_argument_group(f"{group} keys", GROUPS[group])
        _add_key(sections[group], key, getattr(base, key))
    parser.set_defaults(
        config_overrides={},
        config_defaults=defaults,
        config_keys_used=keys,
        config_command=parser.prog.partition(" ")[2] or parser.prog,
    )


def _add_key(section: Any, key: str, default: Any) -> None:
    help_text = f"{describe_key(key)}; default: {_yaml_word(default)}"
    is_flag = attrs.fields_dict(Config)[key].metadata["type"] is bool
    try:
        section.add_argument(
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
        pass  # the command defines this option with its own meaning


def takes_config(args: argparse.Namespace) -> bool:
    """Whether the parsed command was set up with :func:`add_config_options`."""
    return hasattr(args, "config_overrides")


def config_from_args(
    args: argparse.Namespace, report: Callable[[str], None] | None = None
) -> Config:
    """The command's config: its defaults < ``--config`` file < ``--key value`` options.

    The file's keys that the command does not use are checked like the others, then
    ignored: they keep their default values, so that "ignoring" is exactly what happens,
    and ``report`` (default: stderr) receives one line naming them, the first time only.
    """
    if not takes_config(args):
        raise TypeError("this command was not set up with add_config_options()")
    config = Config.from_sources(
        args.config_file, args.config_overrides, defaults=args.config_defaults
    )
    ignored = ignored_keys(args)
    if ignored:
        base = Config.from_sources(None, {}, defaults=args.config_defaults)
        unset = {key: getattr(base, key) for key in ignored if key not in _NOT_OVERRIDABLE}
        config = attrs.evolve(config, **unset)
    if ignored and not getattr(args, "config_ignored_reported", False):
        args.config_ignored_reported = True
        command = getattr(args, "config_command", "this command")
        line = f"config: ignoring keys {command} does not use: {', '.join(ignored)}"
        if report is None:
            print(line, file=sys.stderr)
        else:
            report(line)
    return config


def ignored_keys(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--config`` file's keys that the parsed command does not use, in file order."""
    if getattr(args, "config_file", None) is None:
        return ()
    used = set(getattr(args, "config_keys_used", config_keys()))
    return tuple(key for key in file_keys(args.config_file) if key not in used)


def reject_unknown(extras: Sequence[str], args: argparse.Namespace | None = None) -> None:
    """Raise a ConfigError for leftover arguments.

    With the parsed ``args``, a config key the command does not use is named as such
    (``run does not use --epochs (a training key)``) and typos are matched against the
    command's own keys only.
    """
    used = tuple(getattr(args, "config_keys_used", config_keys()))
    command = getattr(args, "config_command", "this command")
    for arg in extras:
        if arg.startswith("--"):
            key = arg[2:].split("=", 1)[0]
            name = key.replace("-", "_")
            if name in config_keys() and name not in used:
                group = key_group(name)
                if group in OPTION_GROUPS:
                    raise ConfigError(f"{command} does not use --{key} (a {group} key)")
                raise ConfigError(f"--{key} is no command's option ({GROUPS[group]})")
            close = difflib.get_close_matches(name, used, n=1)
            hint = f"; did you mean --{close[0]}?" if close else ""
            raise ConfigError(f"unknown option --{key}{hint}")
    raise ConfigError(f"unexpected arguments: {' '.join(extras)}")


def _yaml_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def given_keys(args: argparse.Namespace) -> set[str]:
    """The config keys the user set: on the command line or in the ``--config`` file.

    Commands fill in defaults of their own (run: 50 particles; compress: the best-fitting
    model) only for keys outside this set.
    """
    import yaml

    given = set(args.config_overrides)
    if args.config_file is not None:  # already read and validated by config_from_args
        loaded = yaml.safe_load(Path(args.config_file).read_text(encoding="utf-8"))
        given |= set(loaded or {})
    return given


def positive_int(text: str) -> int:
    """argparse type of an option that takes a whole number of at least one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects a positive integer, got {text!r}")
    return value
