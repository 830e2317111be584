"""A bare ``bitsback run --coder CISBitsBackCoder``: 50 particles, the model for it, no ../shared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bitsback_core.cli.main import main
from bitsback_core.config import Config
from bitsback_core.pipeline.components import model_catalogue
from bitsback_core.pipeline.run import run_defaults
from bitsback_core.registry import Registry

REPO_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "compress_bin_emnist.yml"


@pytest.fixture
def mnist_models() -> None:
    if model_catalogue().for_particles("EMNIST", "mnist", 50) is None:
        pytest.skip("no installed EMNIST mnist model")


@pytest.fixture
def no_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory with no ../shared, no data directory and an empty user cache."""
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("BITSBACK_DATA_DIR", raising=False)
    monkeypatch.delenv("BITSBACK_CHECKPOINTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return work


def _cis() -> Config:
    return Config.from_mapping({"coder": "CISBitsBackCoder"})


def test_unset_particles_become_50_with_the_closest_model(
    registry: Registry, mnist_models: None
) -> None:
    config, notes = run_defaults(_cis(), registry, given={"coder"})
    best = model_catalogue().for_particles("EMNIST", "mnist", 50)
    assert best is not None
    assert config.num_particles == 50 and config.checkpoint == best.name
    assert len(notes) == 2 and "50 particles" in notes[0] and best.name in notes[1]


def test_a_model_trained_for_50_particles_is_preferred(
    registry: Registry, mnist_models: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = model_catalogue().for_particles("EMNIST", "mnist", 5)
    assert source is not None
    target = tmp_path / "bin_emnist_split=mnist_iwae50"
    shutil.copytree(source.folder, target)
    train_config = yaml.safe_load((target / "train_config.yml").read_text(encoding="utf-8"))
    train_config.update(bound="IWAE", num_particles=50)
    (target / "train_config.yml").write_text(yaml.safe_dump(train_config), encoding="utf-8")
    monkeypatch.setenv("BITSBACK_CHECKPOINTS", str(tmp_path))
    config, notes = run_defaults(_cis(), registry, given={"coder"})
    assert config.checkpoint == "mnist-iwae50" and "trained for it" in notes[1]


@pytest.mark.parametrize(
    ("values", "given"),
    [
        ({"coder": "CISBitsBackCoder", "num_particles": 1}, {"coder", "num_particles"}),
        ({"coder": "BitsBackCoder"}, {"coder"}),  # no particle count to choose
    ],
)
def test_what_the_user_set_is_kept(
    registry: Registry, values: dict[str, object], given: set[str]
) -> None:
    config = Config.from_mapping(values)
    assert run_defaults(config, registry, given) == (config, ())


def test_a_named_model_is_kept_with_50_particles(registry: Registry) -> None:
    config = Config.from_mapping({"coder": "ISBitsBackCoder", "checkpoint": "mnist-elbo"})
    updated, notes = run_defaults(config, registry, given={"coder", "checkpoint"})
    assert updated.num_particles == 50 and updated.checkpoint == "mnist-elbo" and len(notes) == 1


def test_bare_run_needs_nothing_but_the_package(
    capsys: pytest.CaptureFixture[str], no_shared: Path, mnist_models: None
) -> None:
    assert not (no_shared.parent / "shared").exists()
    assert main(["run", "--coder", "CISBitsBackCoder", "--num_compress", "3", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    best = model_catalogue().for_particles("EMNIST", "mnist", 50)
    assert best is not None
    assert (result["num_particles"], result["model"], result["decode_ok"]) == (50, best.name, True)
    assert any("packaged sample" in note for note in result["notes"])
    assert "packaged sample" in captured.err and best.name in captured.err


def test_the_repositorys_compress_config_runs_unchanged(
    capsys: pytest.CaptureFixture[str], no_shared: Path, mnist_models: None
) -> None:
    code = main(["run", "--config", str(REPO_CONFIG), "--num_compress", "2", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_particles"] == 1 and result["coder"] == "ISBitsBackCoder"  # as the file says
    assert result["model"] == "mnist-elbo" and result["decode_ok"] is True
