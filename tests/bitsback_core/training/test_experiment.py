"""Experiment directories: naming, recorded paths, and recognising another run."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from bitsback_core.config import Config
from bitsback_core.training.experiment import (
    EpochRecord,
    ExperimentClashError,
    ExperimentDir,
    check_same_experiment,
    default_exp_name,
)


def test_default_name_follows_the_seed() -> None:
    assert default_exp_name(Config(split="letters", num_particles=5)) == (
        "train_bin_emnist_split=letters_num=5"
    )
    assert default_exp_name(Config(binarize=False)) == "train_emnist_split=mnist_num=1"


def test_paths_are_recorded_relative_to_a_relative_logdir() -> None:
    exp, resolved = ExperimentDir.for_config(
        Config(logdir="checkpoints", exp_name="bin_emnist_split=mnist_elbo")
    )
    assert exp.path == Path("checkpoints/bin_emnist_split=mnist_elbo")
    assert resolved.ckpt_path == "checkpoints/bin_emnist_split=mnist_elbo/model.pt"
    assert resolved.config_path == "checkpoints/bin_emnist_split=mnist_elbo/train_config.yml"
    assert resolved.expdir == "checkpoints/bin_emnist_split=mnist_elbo"
    _, derived = ExperimentDir.for_config(Config(logdir="runs"))
    assert derived.exp_name == "train_bin_emnist_split=mnist_num=1"


@pytest.mark.parametrize("name", ["a/b", "..", ".", "x\\y"])
def test_exp_name_must_be_one_directory(name: str) -> None:
    with pytest.raises(ValueError, match="single directory name"):
        ExperimentDir.for_config(Config(exp_name=name))


def test_identity_keys_decide_a_clash(tmp_path: Path) -> None:
    base = Config(bound="IWAE", num_particles=5)
    check_same_experiment(base, attrs.evolve(base, epochs=10, lr=0.5), tmp_path)  # same model
    with pytest.raises(ExperimentClashError, match=r"bound: 'IWAE' there, 'ELBO' now"):
        check_same_experiment(base, attrs.evolve(base, bound="ELBO"), tmp_path)
    with pytest.raises(ExperimentClashError, match="split"):
        check_same_experiment(base, attrs.evolve(base, split="letters"), tmp_path)


def test_log_round_trip_and_truncation(tmp_path: Path) -> None:
    exp = ExperimentDir(tmp_path / "run")
    exp.start_log()
    for epoch in (1, 2, 3):
        exp.append_log(EpochRecord(epoch, 1e-3, 0.5, 0.6, 10, 1.25))
    assert exp.last_logged_epoch() == 3
    exp.truncate_log(2)
    rows = exp.read_log()
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[0] == {
        "epoch": "1",
        "lr": "0.001",
        "train_bpd": "0.500000",
        "test_bpd": "0.600000",
        "test_images": "10",
        "seconds": "1.250",
    }
