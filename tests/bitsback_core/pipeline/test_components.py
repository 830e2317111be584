"""Model-source precedence and component composition, on the paper's checkpoints."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import attrs
import pytest
from paper_paths import EMNIST_DIR, REPO_ROOT, paper_train_config

from bitsback_core.config import Config
from bitsback_core.errors import ConfigError, UnknownComponentError
from bitsback_core.pipeline import components
from bitsback_core.pipeline.components import (
    build_coder,
    build_components,
    default_checkpoint_dir,
    file_sha256,
    resolve_model_source,
)
from bitsback_core.registry import Registry


def _config(**values: object) -> Config:
    return Config.from_mapping({"datadir": str(EMNIST_DIR), **values})


def _copy_run_folder(num: int, dest: Path, with_config: bool = True) -> Path:
    """A writable copy of a paper run folder (the shared one is read-only)."""
    src = paper_train_config("mnist", num).parent
    dest.mkdir(parents=True)
    shutil.copyfile(src / "model.pt", dest / "model.pt")
    if with_config:
        shutil.copyfile(src / "train_config.yml", dest / "train_config.yml")
    return dest


# --- resolve_model_source: precedence ------------------------------------------------------


def test_train_config_uses_the_weights_beside_it(shared: Path) -> None:
    tc = paper_train_config("mnist", 5)
    source = resolve_model_source(_config(train_config=str(tc)))
    assert source.checkpoint == tc.parent / "model.pt"
    assert source.train_config_path == tc
    assert source.train_config.num_particles == 5  # the model's config, not the caller's
    assert source.train_config.exp_name == "train_bin_emnist_split=mnist_num=5"


def test_explicit_checkpoint_beats_the_train_configs_weights(shared: Path) -> None:
    tc = paper_train_config("mnist", 5)
    other = paper_train_config("mnist", 1).parent / "model.pt"
    source = resolve_model_source(_config(train_config=str(tc), checkpoint=str(other)))
    assert source.checkpoint == other
    assert source.train_config_path == tc  # the architecture still comes from train_config


def test_checkpoint_alone_reads_the_train_config_beside_it(shared: Path) -> None:
    ckpt = paper_train_config("letters", 1).parent / "model.pt"
    source = resolve_model_source(_config(checkpoint=str(ckpt)))
    assert source.checkpoint == ckpt
    assert source.train_config_path == ckpt.parent / "train_config.yml"
    assert source.train_config.split == "letters"


def test_checkpoint_without_a_train_config_uses_this_config(shared: Path, tmp_path: Path) -> None:
    folder = _copy_run_folder(1, tmp_path / "bare", with_config=False)
    config = _config(checkpoint=str(folder / "model.pt"), latent_dim=50)
    source = resolve_model_source(config)
    assert source.train_config_path is None
    assert source.train_config is config
    assert source.checkpoint == folder / "model.pt"


def test_missing_train_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_source(_config(train_config=str(tmp_path / "nope.yml")))


def test_train_config_without_weights_names_the_expected_file(shared: Path, tmp_path: Path) -> None:
    tc = tmp_path / "train_config.yml"
    shutil.copyfile(paper_train_config("mnist", 1), tc)  # its ckpt_path is relative to elsewhere
    with pytest.raises(ConfigError, match="no checkpoint") as info:
        resolve_model_source(_config(train_config=str(tc)))
    assert str(tmp_path / "model.pt") in str(info.value)


def test_train_config_falls_back_to_its_recorded_ckpt_path(shared: Path, tmp_path: Path) -> None:
    weights = paper_train_config("mnist", 1).parent / "model.pt"
    recorded = Config.from_yaml_file(paper_train_config("mnist", 1))
    tc = tmp_path / "train_config.yml"
    attrs.evolve(recorded, ckpt_path=str(weights)).to_yaml_file(tc)
    assert resolve_model_source(_config(train_config=str(tc))).checkpoint == weights


def test_default_checkpoint_dir_is_the_repositorys() -> None:
    assert default_checkpoint_dir() == REPO_ROOT / "checkpoints"


def test_no_model_and_no_default_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(components, "default_checkpoint_dir", lambda: tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_model_source(_config(split="letters"))
    message = str(info.value)
    assert "'letters'" in message
    assert "--checkpoint" in message and "--train_config" in message


def test_default_checkpoint_for_the_split(
    shared: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _copy_run_folder(1, tmp_path / "bin_emnist_split=mnist_elbo")
    monkeypatch.setattr(components, "default_checkpoint_dir", lambda: tmp_path)
    source = resolve_model_source(_config(split="mnist"))
    assert source.checkpoint == tmp_path / "bin_emnist_split=mnist_elbo" / "model.pt"
    assert source.train_config_path == tmp_path / "bin_emnist_split=mnist_elbo" / "train_config.yml"


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 4200  # just over one 1 MiB read block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


# --- build_components / build_coder ----------------------------------------------------------


def test_build_components_loads_the_model_and_parts(shared: Path, registry: Registry) -> None:
    parts = build_components(_config(train_config=str(paper_train_config("mnist", 1))), registry)
    assert parts.model.obs_dim == 784
    assert parts.model.latent_dim == 50
    assert type(parts.proposal).PLUGIN_NAME == "amortized"
    assert type(parts.discretizer).PLUGIN_NAME == "max_entropy"


def test_iterative_inference_swaps_the_proposal(shared: Path, registry: Registry) -> None:
    config = _config(
        train_config=str(paper_train_config("mnist", 1)),
        iterative_post_improvement=True,
        iterative_improvement_steps=3,
        iterative_improvement_lr=0.05,
    )
    proposal = build_components(config, registry).proposal
    assert type(proposal).PLUGIN_NAME == "iterative"
    assert (proposal.steps, proposal.lr) == (3, 0.05)  # type: ignore[attr-defined]


def test_missing_checkpoint_file_is_a_config_error(
    shared: Path, registry: Registry, tmp_path: Path
) -> None:
    config = _config(
        train_config=str(paper_train_config("mnist", 1)), checkpoint=str(tmp_path / "gone.pt")
    )
    with pytest.raises(ConfigError, match="gone.pt does not exist"):
        build_components(config, registry)


def test_build_coder_by_alias(shared: Path, registry: Registry) -> None:
    config = _config(
        train_config=str(paper_train_config("mnist", 5)), coder="BB-CIS", num_particles=4
    )
    coder = build_coder(config, registry, build_components(config, registry))
    assert type(coder).PLUGIN_NAME == "CISBitsBackCoder"
    assert (coder.num_particles, coder.seed, coder.cond_mprec) == (4, 42, 16)


def test_unknown_coder_lists_the_available_ones(shared: Path, registry: Registry) -> None:
    config = _config(train_config=str(paper_train_config("mnist", 1)), coder="Zip")
    parts = build_components(config, registry)
    with pytest.raises(UnknownComponentError) as info:
        build_coder(config, registry, parts)
    for name in ("StochasticCoder", "BitsBackCoder", "ISBitsBackCoder", "CISBitsBackCoder"):
        assert name in str(info.value)


# --- find_model_by_identity: how decompress finds the project's model ----------------------

PROJECT = default_checkpoint_dir()


def _copy_project_model(name: str, dest: Path) -> Path:
    (dest / name).mkdir(parents=True)
    for item in ("model.pt", "train_config.yml"):
        shutil.copyfile(PROJECT / name / item, dest / name / item)
    return dest / name


@pytest.fixture
def project_models(tmp_path: Path) -> Path:
    """A checkpoints/ folder with two project models, a broken one and one without a config."""
    if not (PROJECT / "bin_emnist_split=mnist_elbo" / "model.pt").is_file():
        pytest.skip("the project's checkpoints/ are absent")
    root = tmp_path / "checkpoints"
    _copy_project_model("bin_emnist_split=mnist_elbo", root)
    _copy_project_model("bin_emnist_split=mnist_iwae5", root)
    (root / "broken").mkdir()
    (root / "broken" / "model.pt").write_bytes(b"not a checkpoint")
    elbo = PROJECT / "bin_emnist_split=mnist_elbo"
    shutil.copyfile(elbo / "train_config.yml", root / "broken" / "train_config.yml")
    (root / "bare").mkdir()
    shutil.copyfile(
        PROJECT / "bin_emnist_split=mnist_elbo" / "model.pt", root / "bare" / "model.pt"
    )
    components._IDENTITIES.clear()
    return root


def _source(folder: Path) -> components.ModelSource:
    return components.ModelSource(
        Config.from_yaml_file(folder / "train_config.yml"),
        folder / "model.pt",
        folder / "train_config.yml",
    )


def test_model_identity_per_arithmetic(project_models: Path, registry: Registry) -> None:
    folder = project_models / "bin_emnist_split=mnist_elbo"
    portable = components.model_identity(_source(folder), "portable", registry)
    config = Config.from_mapping({"train_config": str(folder / "train_config.yml")})
    assert portable == build_components(config, registry).model.identity()
    assert components.model_identity(_source(folder), "float", registry) == file_sha256(
        folder / "model.pt"
    )
    with pytest.raises(ConfigError, match="unknown arithmetic"):
        components.model_identity(_source(folder), "decimal", registry)


@pytest.mark.parametrize("arithmetic", ["portable", "float"])
def test_find_model_by_identity(project_models: Path, registry: Registry, arithmetic: str) -> None:
    for name in ("bin_emnist_split=mnist_iwae5", "bin_emnist_split=mnist_elbo"):
        identity = components.model_identity(_source(project_models / name), arithmetic, registry)
        found = components.find_model_by_identity(
            identity, arithmetic, registry, root=project_models
        )
        assert found is not None
        assert found.checkpoint == project_models / name / "model.pt"
        assert found.train_config_path == project_models / name / "train_config.yml"
    assert (
        components.find_model_by_identity("00" * 32, arithmetic, registry, root=project_models)
        is None
    )
    assert (
        components.find_model_by_identity(
            "00" * 32, arithmetic, registry, root=project_models / "no"
        )
        is None
    )


def test_find_model_tries_the_named_folder_first_and_caches(
    project_models: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []
    real = components.model_identity

    def counting(source, arithmetic, registry, device="cpu", portable_format=None):  # type: ignore[no-untyped-def]
        built.append(source.checkpoint.parent)
        return real(source, arithmetic, registry, device, portable_format)

    monkeypatch.setattr(components, "model_identity", counting)
    target = project_models / "bin_emnist_split=mnist_iwae5"
    identity = real(_source(target), "portable", registry)
    found = components.find_model_by_identity(
        identity, "portable", registry, prefer="bin_emnist_split=mnist_iwae5", root=project_models
    )
    assert found is not None and found.checkpoint.parent == target
    assert built == [target]  # one model built: the folder the file names
    components.find_model_by_identity(identity, "portable", registry, root=project_models)
    # Unnamed: alphabetical order; "bare" has no train_config, so it is not a candidate.
    assert built == [target, project_models / "bin_emnist_split=mnist_elbo"]
    components.find_model_by_identity("00" * 32, "portable", registry, root=project_models)
    assert built[2:] == [project_models / "broken"]  # broken skipped, the rest cached
    components.find_model_by_identity("00" * 32, "portable", registry, root=project_models)
    assert len(built) == 3


def test_the_default_folder_holds_the_project_models(registry: Registry) -> None:
    folder = PROJECT / "bin_emnist_split=mnist_elbo"
    if not (folder / "model.pt").is_file():
        pytest.skip("the project's checkpoints/ are absent")
    identity = file_sha256(folder / "model.pt")
    found = components.find_model_by_identity(identity, "float", registry, prefer=folder.name)
    assert found is not None and found.checkpoint == folder / "model.pt"
