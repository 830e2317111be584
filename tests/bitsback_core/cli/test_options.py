"""Config options on a bare argparse parser (no CLI dispatch)."""

from __future__ import annotations

import argparse

import pytest

from bitsback_core.cli.options import (
    add_config_options,
    config_from_args,
    reject_unknown,
    takes_config,
)
from bitsback_core.config import config_keys
from bitsback_core.errors import ConfigError


def _parser(**defaults: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitsback run")
    parser.add_argument("input")
    parser.add_argument("--output", help="own option")
    add_config_options(parser, defaults=defaults)
    return parser


def test_every_key_but_config_and_own_options_becomes_an_option() -> None:
    parser = _parser()
    overridable = {
        action.dest.removeprefix("_override_")
        for action in parser._actions
        if action.dest.startswith("_override_")
    }
    # --config is the file itself; --output belongs to the command
    assert overridable == set(config_keys()) - {"config", "output"}
    args = parser.parse_args(["in", "--output", "o", "--lr", "0.5"])
    assert args.output == "o" and args.config_overrides == {"lr": "0.5"}


def test_usage_stays_short() -> None:
    usage = _parser().format_usage()
    assert usage == "usage: bitsback run [-h] [--output OUTPUT] input [--config PATH] " \
                    "[--KEY VALUE ...]\n"


def test_bare_bool_flag_means_true_and_overrides_are_per_parse() -> None:
    parser = _parser()
    first = parser.parse_args(["in", "--batch_compute", "--coder", "BitsBackCoder"])
    assert first.config_overrides == {"batch_compute": "true", "coder": "BitsBackCoder"}
    second = parser.parse_args(["in"])
    assert second.config_overrides == {}  # nothing leaks between parses
    config = config_from_args(first)
    assert config.batch_compute is True and config.coder == "BitsBackCoder"


def test_later_option_wins() -> None:
    args = _parser().parse_args(["in", "--seed", "1", "--seed=2"])
    assert config_from_args(args).seed == 2


def test_bad_command_defaults_fail_when_the_parser_is_built() -> None:
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        _parser(batch_size=0)


def test_takes_config() -> None:
    parser = argparse.ArgumentParser()
    args = parser.parse_args([])
    assert not takes_config(args)
    with pytest.raises(TypeError, match="add_config_options"):
        config_from_args(args)
    assert takes_config(_parser().parse_args(["x"]))


def test_reject_unknown() -> None:
    with pytest.raises(ConfigError, match=r"unknown option --prio_mprec; did you mean "
                                          r"--prior_mprec\?"):
        reject_unknown(["--prio_mprec=3"])
    with pytest.raises(ConfigError, match="unknown option --zzz$"):
        reject_unknown(["x", "--zzz"])
    with pytest.raises(ConfigError, match="unexpected arguments: a b"):
        reject_unknown(["a", "b"])
