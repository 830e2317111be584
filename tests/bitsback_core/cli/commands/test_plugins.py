"""``bitsback plugins`` with a registry faked in memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.cli import main as cli_main
from bitsback_core.cli.commands import plugins as plugins_command
from bitsback_core.datasets import Dataset
from bitsback_core.models import GaussianParams
from bitsback_core.proposals import Proposal
from bitsback_core.registry import Distribution, Registry


class Letters(Dataset):
    PLUGIN_NAME = "EMNIST"
    ALIASES = ("emnist", "mnist-like")

    def __init__(self, data_dir: Path, split: str, train: bool) -> None:
        pass

    def __len__(self) -> int:
        return 0

    def intensities(self, indices: np.ndarray | slice) -> np.ndarray:
        return np.zeros((0, 784), dtype=np.uint8)


class Encoder(Proposal):
    PLUGIN_NAME = "amortized"

    def __call__(self, x: np.ndarray, seed: int = 0) -> GaussianParams:
        return self.model.posterior(x)


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    registry = Registry()
    registry.register("dataset", Letters, plugin="emnist", dist=Distribution("bitsback", "0.1.0"))
    registry.register("proposal", Encoder, plugin="third")
    monkeypatch.setattr(plugins_command, "load_registry", lambda: registry)
    return registry


def test_table_lists_every_component(
    fake_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(["plugins"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "amortized" in line or "EMNIST" in line]
    assert len(lines) == 2
    proposal, dataset = lines  # kinds in registry order: proposal before dataset
    for cell in ("proposal", "amortized", "third"):
        assert cell in proposal
    for cell in ("dataset", "EMNIST", "emnist, mnist-like", "emnist", "bitsback 0.1.0"):
        assert cell in dataset
    for header in ("kind", "name", "aliases", "plugin", "distribution"):
        assert header in out


def test_json_output(fake_registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out) == [
        {
            "kind": "proposal",
            "name": "amortized",
            "aliases": [],
            "plugin": "third",
            "distribution": None,
            "class": f"{__name__}.Encoder",
        },
        {
            "kind": "dataset",
            "name": "EMNIST",
            "aliases": ["emnist", "mnist-like"],
            "plugin": "emnist",
            "distribution": {"name": "bitsback", "version": "0.1.0"},
            "class": f"{__name__}.Letters",
        },
    ]


def test_kind_filter(fake_registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["plugins", "--kind", "dataset", "--json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)] == ["EMNIST"]
    assert cli_main.main(["plugins", "--kind", "codec"]) == 2


def test_empty_registry_warns_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(plugins_command, "load_registry", Registry)
    assert cli_main.main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("warning: no components registered")


def test_plugin_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BITSBACK_PLUGINS", "surely_not_installed")
    monkeypatch.delenv("BITSBACK_DEBUG", raising=False)
    assert cli_main.main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: BITSBACK_PLUGINS names 'surely_not_installed'")
