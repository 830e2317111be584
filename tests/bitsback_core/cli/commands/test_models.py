"""``bitsback models``: the installed models in 80 columns, or as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bitsback_core.cli.main import main
from bitsback_core.pipeline.components import model_catalogue


def test_json_lists_every_installed_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    entries = model_catalogue().entries
    assert [item["name"] for item in listed] == [entry.name for entry in entries]
    for item, entry in zip(listed, entries):
        assert item["sha256"] == entry.sha256() and len(item["sha256"]) == 64
        assert (item["split"], item["bound"], item["particles"]) == (
            entry.split,
            entry.bound,
            entry.particles,
        )
        assert item["test_bpd"] == entry.test_bpd


def test_table_fits_80_columns_and_names_each_model() -> None:
    entries = model_catalogue().entries
    if not entries:
        pytest.skip("no models installed")
    done = subprocess.run(
        [sys.executable, "-m", "bitsback_core.cli.main", "models"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "80"},
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    for entry in entries:
        row = next(line for line in lines if f" {entry.name} " in line)
        assert entry.sha256()[:12] in row and entry.split in row
        if entry.test_bpd is not None:
            assert f"{entry.test_bpd:.4f}" in row


def test_no_models_is_a_warning_not_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from bitsback_core.pipeline import components

    monkeypatch.setattr(components, "default_checkpoint_dir", lambda: tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BITSBACK_CHECKPOINTS", raising=False)
    assert main(["models"]) == 0
    assert "no models installed" in capsys.readouterr().err
