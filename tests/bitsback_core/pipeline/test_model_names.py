"""Models chosen by catalogue name wherever a checkpoint is taken; paths keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import components
from bitsback_core.pipeline.components import model_catalogue, resolve_model_source


@pytest.fixture
def installed() -> dict[str, Path]:
    names = {entry.name: entry.folder for entry in model_catalogue().entries}
    if not {"mnist-elbo", "mnist-iwae5"} <= set(names):
        pytest.skip("the project's models (mnist-elbo, mnist-iwae5) are not installed")
    return names


def test_checkpoint_by_name(installed: dict[str, Path]) -> None:
    source = resolve_model_source(Config.from_mapping({"checkpoint": "mnist-iwae5"}))
    assert source.checkpoint == installed["mnist-iwae5"] / "model.pt"
    assert source.train_config_path == installed["mnist-iwae5"] / "train_config.yml"
    assert source.train_config.num_particles == 5 and source.label == "mnist-iwae5"


def test_train_config_by_name_with_weights_by_name(installed: dict[str, Path]) -> None:
    config = Config.from_mapping({"train_config": "MNIST-ELBO", "checkpoint": "mnist-iwae5"})
    source = resolve_model_source(config)
    assert source.train_config_path == installed["mnist-elbo"] / "train_config.yml"
    assert source.checkpoint == installed["mnist-iwae5"] / "model.pt"


def test_a_path_still_works_and_is_labelled_by_its_path(installed: dict[str, Path]) -> None:
    path = installed["mnist-elbo"] / "model.pt"
    source = resolve_model_source(Config.from_mapping({"checkpoint": str(path)}))
    assert source.checkpoint == path and source.name is None and source.label == str(path)


def test_default_model_is_the_elbo_one_for_the_split(installed: dict[str, Path]) -> None:
    source = resolve_model_source(Config.from_mapping({"split": "mnist"}))
    assert source.name == "mnist-elbo" and source.checkpoint.parent == installed["mnist-elbo"]


def test_unknown_name_lists_the_installed_ones(installed: dict[str, Path]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_model_source(Config.from_mapping({"checkpoint": "mnist-nope"}))
    assert "mnist-nope" in str(info.value) and "mnist-elbo" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_file_named_like_a_word_is_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").write_bytes(b"x")
    source = resolve_model_source(Config.from_mapping({"checkpoint": "weights"}))
    assert source.checkpoint == Path("weights") and source.name is None


def test_environment_models_come_first(
    installed: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(installed["mnist-iwae5"], tmp_path / "mine=mnist_elbo")
    monkeypatch.setenv("BITSBACK_CHECKPOINTS", str(tmp_path))
    source = resolve_model_source(Config.from_mapping({"checkpoint": "mnist-elbo"}))
    assert source.checkpoint == tmp_path / "mine=mnist_elbo" / "model.pt"
    assert components.model_roots()[0] == tmp_path
