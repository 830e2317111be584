"""``bitsback run``: the seed's experiment on paper checkpoints, JSON and table output, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bitsback_core.cli.main import main
from bitsback_core.pipeline import components
from bitsback_core.pipeline import run as run_module

SHARED = Path(__file__).resolve().parents[4].parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
DATA = SHARED / "data" / "emnist"
SEED_CONFIG = SHARED / "seed" / "configs" / "compress_bin_emnist.yml"

JSON_KEYS = (
    "coder",
    "num_particles",
    "split",
    "num_compress",
    "ideal_bpd",
    "net_bpd",
    "total_bpd",
    "initial_bits",
    "encode_s",
    "decode_s",
    "decode_ok",
)
CODERS = ["StochasticCoder", "BitsBackCoder", "ISBitsBackCoder", "CISBitsBackCoder"]


def _train_config(num: int) -> str:
    return str(PAPER / f"train_bin_emnist_split=mnist_num={num}" / "train_config.yml")


@pytest.fixture(autouse=True)
def shared() -> None:
    if not (PAPER.is_dir() and DATA.is_dir() and SEED_CONFIG.is_file()):
        pytest.skip(f"shared checkpoints, data and seed configs under {SHARED} are absent")


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["run", "--datadir", str(DATA), *args, "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(result, dict)
    return result


def test_seed_config_runs_unchanged_with_path_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    result = _run_json(
        capsys,
        "--config",
        str(SEED_CONFIG),
        "--train_config",
        _train_config(1),
        "--num_compress",
        "10",
    )
    for key in JSON_KEYS:
        assert key in result, key
    # The seed's values: BB-IS with one particle (= BB-ELBO) on the mnist split.
    assert (result["coder"], result["num_particles"], result["split"]) == (
        "ISBitsBackCoder",
        1,
        "mnist",
    )
    assert result["num_compress"] == 10
    assert result["decode_ok"] is True
    assert abs(result["net_bpd"] - result["ideal_bpd"]) < 0.02
    assert result["total_bpd"] > result["net_bpd"]
    assert result["initial_bits"] > 0
    assert result["encode_s"] >= 0 and result["decode_s"] >= 0


def test_seed_config_runs_unchanged_from_a_seed_like_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The seed's relative paths (./checkpoints/..., ./data) resolve against the working folder."""
    (tmp_path / "checkpoints").symlink_to(PAPER, target_is_directory=True)
    (tmp_path / "data").symlink_to(DATA, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--config", str(SEED_CONFIG), "--num_compress", "3", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["decode_ok"] is True and result["num_compress"] == 3
    # the seed's training-only and unused keys are named once, in one line
    ignoring = [line for line in captured.err.splitlines() if line.startswith("config: ignoring")]
    assert ignoring == [
        "config: ignoring keys run does not use: exp_name, logdir, workers, batch_compute, "
        "batch_size"
    ]
    assert result["checkpoint"] == "checkpoints/train_bin_emnist_split=mnist_num=1/model.pt"


def test_bits_back_coder_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = _run_json(
        capsys,
        "--train_config",
        _train_config(1),
        "--coder",
        "BitsBackCoder",
        "--num_compress",
        "20",
    )
    assert result["coder"] == "BitsBackCoder" and result["decode_ok"] is True
    assert abs(result["net_bpd"] - result["ideal_bpd"]) < 0.02
    assert (result["chains"], result["lanes"]) == (1, 1)  # automatic layout: the seed's own


def test_real_subprocess_prints_only_json() -> None:
    script = shutil.which("bitsback")
    assert script is not None, "the bitsback console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "BITSBACK_DEBUG"}
    proc = subprocess.run(
        [
            script,
            "run",
            "--config",
            str(SEED_CONFIG),
            "--train_config",
            _train_config(1),
            "--datadir",
            str(DATA),
            "--num_compress",
            "5",
            "--coder",
            "BB-ELBO",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["coder"] == "BitsBackCoder"
    assert result["decode_ok"] is True and result["num_compress"] == 5
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("chains, lanes", [(1, 1), (2, 3)])
@pytest.mark.parametrize("coder", [*CODERS, "BB-IS", "cis"])
def test_every_coder_decodes(
    capsys: pytest.CaptureFixture[str], coder: str, chains: int, lanes: int
) -> None:
    result = _run_json(
        capsys,
        "--train_config",
        _train_config(5),
        "--coder",
        coder,
        "--num_particles",
        "3",
        "--num_compress",
        "5",
        "--chains",
        str(chains),
        "--lanes",
        str(lanes),
    )
    assert result["decode_ok"] is True
    assert result["coder"] in CODERS  # aliases report the canonical name
    assert (result["chains"], result["lanes"], result["num_particles"]) == (chains, lanes, 3)


@pytest.mark.parametrize("chains, lanes", [(1, 1), (2, 3)])
def test_iterative_inference_decodes(
    capsys: pytest.CaptureFixture[str], chains: int, lanes: int
) -> None:
    result = _run_json(
        capsys,
        "--train_config",
        _train_config(1),
        "--coder",
        "BitsBackCoder",
        "--num_compress",
        "3",
        "--iterative_post_improvement",
        "true",
        "--iterative_improvement_steps",
        "3",
        "--chains",
        str(chains),
        "--lanes",
        str(lanes),
    )
    assert result["decode_ok"] is True and result["iterative_inference"] is True


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--train_config", _train_config(1), "--datadir", str(DATA), "--num_compress", "2"]
    )
    assert code == 0
    out = capsys.readouterr().out
    for text in ("bits/dim", "ideal", "net", "total", "initial bits", "decode check: OK"):
        assert text in out


def test_failed_decode_check_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = run_module.decode_dataset

    def corrupt(*args: Any, **kwargs: Any) -> np.ndarray:
        out = real(*args, **kwargs)
        out[-1, -1] ^= 1
        return out

    monkeypatch.setattr(run_module, "decode_dataset", corrupt)
    code = main(
        [
            "run",
            "--train_config",
            _train_config(1),
            "--datadir",
            str(DATA),
            "--num_compress",
            "2",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out)["decode_ok"] is False
    assert "decoded images differ" in captured.err


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["run", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_unknown_coder_lists_the_coders(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(
        capsys, "--train_config", _train_config(1), "--datadir", str(DATA), "--coder", "zip"
    )
    assert "'zip'" in line
    for name in CODERS:
        assert name in line


def test_bad_config_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--num_particles expects an integer, got 'abc'" in _error(
        capsys, "--num_particles", "abc"
    )


def test_unknown_option_suggests_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert "did you mean --num_particles" in _error(capsys, "--num_particels", "3")


def test_missing_train_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert "does not exist" in _error(capsys, "--train_config", str(tmp_path / "nope.yml"))


def test_no_model_at_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(components, "default_checkpoint_dir", lambda: tmp_path)
    line = _error(capsys, "--datadir", str(DATA))
    assert "no model given" in line and "--train_config" in line
