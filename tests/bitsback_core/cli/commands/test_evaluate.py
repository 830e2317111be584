"""``bitsback evaluate``: negative ELBO and IWAE-K bounds of a paper model from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bitsback_core.cli.main import main

SHARED = Path(__file__).resolve().parents[4].parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
DATA = SHARED / "data" / "emnist"
SEED_CONFIG = SHARED / "seed" / "configs" / "compress_bin_emnist.yml"


def _model(num: int) -> Path:
    return PAPER / f"train_bin_emnist_split=mnist_num={num}"


@pytest.fixture(autouse=True)
def shared() -> None:
    if not (PAPER.is_dir() and DATA.is_dir()):
        pytest.skip(f"shared checkpoints and data under {SHARED} are absent")


def test_json_bounds_of_the_k5_model(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "evaluate",
            "--train_config",
            str(_model(5) / "train_config.yml"),
            "--datadir",
            str(DATA),
            "--num_compress",
            "10",
            "--num_particles",
            "5",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("split", "num_compress", "num_particles", "elbo_bpd", "iwae_bpd"):
        assert key in result, key
    assert (result["split"], result["num_compress"], result["num_particles"]) == ("mnist", 10, 5)
    assert result["iwae_bpd"] <= result["elbo_bpd"] + 1e-3
    assert 0 < result["iwae_bpd"] < 1


def test_checkpoint_alone_and_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(_model(1) / "model.pt"),
            "--datadir",
            str(DATA),
            "--num_compress",
            "3",
            "--num_particles",
            "2",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "negative ELBO" in out and "negative IWAE-2" in out
    assert "bits/dim" in out


def test_seed_config_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    if not SEED_CONFIG.is_file():
        pytest.skip(f"seed config {SEED_CONFIG} is absent")
    code = main(
        [
            "evaluate",
            "--config",
            str(SEED_CONFIG),
            "--train_config",
            str(_model(1) / "train_config.yml"),
            "--datadir",
            str(DATA),
            "--num_compress",
            "2",
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["num_compress"] == 2


def test_missing_checkpoint_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["evaluate", "--checkpoint", str(tmp_path / "model.pt"), "--datadir", str(DATA)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("error: ") and "model.pt does not exist" in lines[0]
    )
