"""``bitsback train`` through ``main([...])`` on a tiny EMNIST-named dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from bitsback_core.cli.main import main
from bitsback_core.config import Config
from bitsback_emnist.idx import write_idx_images, write_idx_labels

REPO_ROOT = Path(__file__).resolve().parents[4]
SEED_CONFIG = REPO_ROOT.parent / "shared" / "seed" / "configs" / "train_bin_emnist.yml"
OUR_CONFIG = REPO_ROOT / "configs" / "train_bin_emnist.yml"


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def datadir(tmp_path: Path) -> Path:
    """Tiny EMNIST ``mnist`` files: 64 train and 32 test images with a bright quadrant."""
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for part, n in (("train", 64), ("test", 32)):
        images = rng.integers(0, 30, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(rng.integers(0, 4, size=n)):
            r, col = divmod(int(c), 2)
            images[i, r * 14 : (r + 1) * 14, col * 14 : (col + 1) * 14] = 235
        write_idx_images(data / f"emnist-mnist-{part}-images-idx3-ubyte.gz", images)
        write_idx_labels(data / f"emnist-mnist-{part}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    return data


def _args(datadir: Path, logdir: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--datadir",
        str(datadir),
        "--logdir",
        str(logdir),
        "--exp_name",
        "cli",
        "--epochs",
        "2",
        "--batch_size",
        "16",
        "--latent_dim",
        "8",
        "--test_images",
        "20",
        *extra,
    ]


def test_trains_and_prints_a_table(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(datadir, tmp_path, "--bound", "ELBO")) == 0
    captured = capsys.readouterr()
    for cell in (
        "Training",
        "epochs run",
        "2 (from 0 to 2 of 2)",
        "best test bits/dim",
        "20 test images",
        "wall time",
        "output dir",
        "finished",
    ):
        assert cell in captured.out
    assert "epoch 1/2" in captured.err and "epoch 2/2" in captured.err  # per-epoch lines
    expdir = tmp_path / "cli"
    assert {p.name for p in expdir.iterdir()} == {
        "log.csv",
        "model.pt",
        "state.pt",
        "train_config.yml",
    }
    assert Config.from_yaml_file(expdir / "train_config.yml").bound == "ELBO"


def test_json_report_and_resume_flags(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(datadir, tmp_path, "--max_train_minutes", "0", "--json")) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["stopped_by_time"] and first["epochs_done"] == 1 and first["test_images"] == 20
    assert main(_args(datadir, tmp_path, "--json", "--discard_state")) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["start_epoch"], second["epochs_done"]) == (1, 2)
    assert not (tmp_path / "cli" / "state.pt").exists()
    assert main(_args(datadir, tmp_path, "--json")) == 0  # finished: nothing trained
    assert json.loads(capsys.readouterr().out)["already_finished"]


def test_bad_bound_is_a_one_line_error(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(datadir, tmp_path, "--bound", "KL")) == 2
    err = capsys.readouterr().err
    assert "error: bound must be one of ELBO, IWAE, got 'KL'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "cli").exists()


def test_clashing_directory_exits_with_2(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(datadir, tmp_path, "--bound", "ELBO")) == 0
    capsys.readouterr()
    assert main(_args(datadir, tmp_path, "--bound", "IWAE", "--no_resume")) == 2
    assert "holds a different experiment" in capsys.readouterr().err


@pytest.mark.parametrize("config_file", [SEED_CONFIG, OUR_CONFIG], ids=["seed", "ours"])
def test_the_training_config_files_run_unchanged(
    config_file: Path,
    datadir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not config_file.is_file():
        pytest.skip(f"{config_file} is absent")
    monkeypatch.chdir(tmp_path)  # the file's logdir ./checkpoints is relative to here
    args = [
        "train",
        "--config",
        str(config_file),
        "--datadir",
        str(datadir),
        "--epochs",
        "1",
        "--test_images",
        "8",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    if not torch.cuda.is_available():  # gpu: 0 falls back to the CPU with a warning
        assert "CUDA is not available: running on the CPU" in captured.err
    expdir = tmp_path / "checkpoints" / "train_bin_emnist"
    saved = Config.from_yaml_file(expdir / "train_config.yml")
    assert (saved.bound, saved.num_particles, saved.latent_dim, saved.epochs) == ("IWAE", 1, 50, 1)
    assert saved.config == str(config_file)


def test_help_default_matches_the_library() -> None:
    from bitsback_core.cli.commands import train as train_command
    from bitsback_core.training import DEFAULT_TEST_IMAGES

    assert train_command._DEFAULT_TEST_IMAGES == DEFAULT_TEST_IMAGES
