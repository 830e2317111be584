"""The CLI shell: version, help, dispatch, config overrides and exit codes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import bitsback_core
from bitsback_core.cli import main as cli_main
from bitsback_core.cli.options import add_config_options, config_from_args
from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError

REPO_ROOT = Path(__file__).resolve().parents[3]

Run = Callable[[argparse.Namespace, Any], Any]


def _install_command(
    monkeypatch: pytest.MonkeyPatch,
    run: Run,
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
    name: str = "fake",
) -> None:
    """Add a command module ``name`` to the CLI without touching the real COMMANDS list."""
    module = types.ModuleType(f"bitsback_core.cli.commands.{name}")

    def add_parser(subparsers: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(name, help="a test command")
        if configure is not None:
            configure(parser)
        return parser

    module.add_parser = add_parser  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(cli_main, "COMMANDS", [*cli_main.COMMANDS, name])


def _configured(defaults: dict[str, Any] | None = None) -> Callable[..., None]:
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", nargs="?")
        parser.add_argument("--output", help="the command's own --output")
        add_config_options(parser, defaults=defaults)

    return configure


def test_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_commands(name: str) -> None:
        raise AssertionError(f"--version imported command {name!r}")

    monkeypatch.setattr(cli_main, "command_module", no_commands)
    assert cli_main.main(["--version"]) == 0
    assert capsys.readouterr().out == f"bitsback {bitsback_core.__version__}\n"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: bitsback" in out and "plugins" in out


def test_missing_or_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err
    assert cli_main.main(["compresss"]) == 2
    assert "invalid choice: 'compresss'" in capsys.readouterr().err


def test_only_the_command_being_run_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    _install_command(monkeypatch, lambda args, terminal: 0)
    monkeypatch.setattr(cli_main, "COMMANDS", [*cli_main.COMMANDS, "not_a_module"])
    assert cli_main.main(["fake"]) == 0
    with pytest.raises(ModuleNotFoundError):  # --help needs them all
        cli_main.main(["--help"])


def test_config_overrides_through_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def run(args: argparse.Namespace, terminal: Any) -> int:
        seen["config"] = config_from_args(args)
        seen["args"] = args
        return 0

    _install_command(monkeypatch, run, _configured(defaults={"batch_size": 100}))
    config_file = tmp_path / "x.yml"
    config_file.write_text(yaml.safe_dump({"num_particles": 5, "lr": 0.5, "split": "letters"}))
    argv = [
        "fake",
        "--config",
        str(config_file),
        "--num_particles",
        "50",
        "--coder=CISBitsBackCoder",
        "--gpu",
        "-1",
        "--binarize",
        "false",
        "--json",
        "--datadir",
        "null",
        "in.npy",
        "--output",
        "out.bbz",
    ]
    assert cli_main.main(argv) == 0
    config: Config = seen["config"]
    assert (config.num_particles, config.coder, config.gpu) == (50, "CISBitsBackCoder", -1)
    assert (config.binarize, config.json, config.datadir) == (False, True, None)
    assert (config.lr, config.split) == (0.5, "letters")  # from the file
    assert config.batch_size == 100  # the command's default
    assert config.config == str(config_file)
    # the command's own --output is not a config override
    assert seen["args"].input == "in.npy" and seen["args"].output == "out.bbz"
    assert config.output is None


def test_no_overrides_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Config] = {}
    _install_command(
        monkeypatch, lambda a, t: seen.setdefault("c", config_from_args(a)) and 0, _configured()
    )
    assert cli_main.main(["fake"]) == 0
    assert seen["c"] == Config()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["fake", "--num_particls", "5"],
            "error: unknown option --num_particls; did you mean --num_particles?",
        ),
        (["fake", "--lr", "abc"], "error: --lr expects a float, got 'abc'"),
        (["fake", "--config", "missing.yml"], "error: config file not found: 'missing.yml'"),
        (["fake", "a", "b"], "error: unexpected arguments: b"),
    ],
)
def test_bad_overrides_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    _install_command(monkeypatch, lambda a, t: config_from_args(a) and 0, _configured())
    monkeypatch.delenv("BITSBACK_DEBUG", raising=False)
    assert cli_main.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == message + "\n" and captured.out == ""


def test_commands_without_config_reject_extra_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["plugins", "--lr", "1"]) == 2
    assert "unrecognized arguments: --lr 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (BitsbackError("bad plugin name"), 2),
        (ValueError("bad value"), 2),
        (FileNotFoundError("no such file: x"), 2),
        (KeyboardInterrupt(), 130),
    ],
)
def test_errors_become_exit_codes_without_traceback(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
) -> None:
    def run(args: argparse.Namespace, terminal: Any) -> int:
        raise exc

    _install_command(monkeypatch, run)
    monkeypatch.delenv("BITSBACK_DEBUG", raising=False)
    assert cli_main.main(["fake"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err == f"error: {str(exc) or 'interrupted'}\n"


def test_debug_env_var_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(args: argparse.Namespace, terminal: Any) -> int:
        raise BitsbackError("deep problem")

    _install_command(monkeypatch, run)
    monkeypatch.setenv("BITSBACK_DEBUG", "1")
    assert cli_main.main(["fake"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("error: deep problem\n")


def test_bugs_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(args: argparse.Namespace, terminal: Any) -> int:
        raise RuntimeError("a bug")

    _install_command(monkeypatch, run)
    with pytest.raises(RuntimeError, match="a bug"):
        cli_main.main(["fake"])


def test_exit_code_of_the_command_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    _install_command(monkeypatch, lambda args, terminal: 3)
    assert cli_main.main(["fake"]) == 3


def test_python_dash_m_version() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")]))
    done = subprocess.run(
        [sys.executable, "-m", "bitsback_core.cli.main", "--version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"bitsback {bitsback_core.__version__}\n"
    assert done.stderr == ""
