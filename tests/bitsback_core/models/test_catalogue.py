"""The model catalogue: naming rule, roots and their order, figures read from the folders."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from bitsback_core.models import catalogue
from bitsback_core.models.catalogue import (
    MODELS_ENV,
    CatalogueEntry,
    looks_like_name,
    model_name,
    model_roots,
    package_models_dir,
    scan,
    user_models_dir,
)

SHIPPED = package_models_dir()
SOURCE = Path(__file__).resolve().parents[3] / "bitsback_core"


def _model_folder(
    root: Path,
    name: str,
    *,
    split: str = "mnist",
    bound: str = "IWAE",
    particles: int = 5,
    test_bpd: tuple[float, ...] = (),
    weights: bytes = b"weights",
    binarize: bool = True,
) -> Path:
    """A model folder with a minimal train_config, fake weights and optionally a log."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(weights)
    config = {
        "split": split,
        "bound": bound,
        "num_particles": particles,
        "dataset": "EMNIST",
        "binarize": binarize,
    }
    (folder / "train_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    if test_bpd:
        rows = ["epoch,lr,train_bpd,test_bpd,test_images,seconds"]
        rows += [f"{i + 1},0.001,0.3,{bpd},2000,1.0" for i, bpd in enumerate(test_bpd)]
        (folder / "log.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_naming_rule() -> None:
    assert model_name("bin_emnist_split=mnist_iwae50") == "mnist-iwae50"
    assert model_name("a=b=Letters_ELBO") == "letters-elbo"
    assert model_name("my_model") == "my-model"


def test_names_and_paths_are_told_apart() -> None:
    assert looks_like_name("mnist-elbo")
    for path in ("./mnist-elbo", "dir/model", "model.pt", "train_config.yml", ""):
        assert not looks_like_name(path)


def test_scan_reads_split_bound_particles_best_test_loss_and_sha256(tmp_path: Path) -> None:
    _model_folder(tmp_path, "x=mnist_iwae5", test_bpd=(0.3, 0.25, 0.26), weights=b"abc")
    _model_folder(tmp_path, "x=letters_elbo", split="letters", bound="ELBO", particles=1)
    _model_folder(tmp_path, "x=one_particle_iwae", particles=1)
    (tmp_path / "no_config").mkdir()
    (tmp_path / "no_config" / "model.pt").write_bytes(b"w")
    broken = _model_folder(tmp_path, "broken")
    (broken / "train_config.yml").write_text("num_particles: [oops\n", encoding="utf-8")
    found = scan([tmp_path])
    assert found.names() == ("letters-elbo", "mnist-iwae5", "one-particle-iwae")
    iwae = found.get("MNIST-IWAE5")
    assert iwae is not None
    assert (iwae.split, iwae.bound, iwae.particles, iwae.test_bpd, iwae.test_images) == (
        "mnist",
        "IWAE",
        5,
        0.25,
        2000,
    )
    assert iwae.sha256() == hashlib.sha256(b"abc").hexdigest()
    elbo = found.get("letters-elbo")
    assert elbo is not None and (elbo.bound, elbo.particles, elbo.test_bpd) == ("ELBO", 1, None)
    one = found.get("one-particle-iwae")
    assert one is not None and (one.bound, one.particles) == ("ELBO", 1)  # IWAE-1 is the ELBO
    assert set(iwae.as_dict()) >= {
        "name",
        "split",
        "bound",
        "particles",
        "test_bpd",
        "sha256",
        "path",
    }


def test_earlier_roots_win_a_name(tmp_path: Path) -> None:
    first = _model_folder(tmp_path / "a", "p=mnist_elbo", weights=b"first")
    _model_folder(tmp_path / "b", "q=mnist_elbo", weights=b"second")
    entry = scan([tmp_path / "a", tmp_path / "b", tmp_path / "missing"]).get("mnist-elbo")
    assert entry is not None and entry.folder == first


def test_roots_order_environment_package_user(tmp_path: Path) -> None:
    env = {
        MODELS_ENV: os.pathsep.join([str(tmp_path / "e1"), "", str(tmp_path / "e2")]),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    roots = model_roots(tmp_path / "pkg", env)
    assert roots == (
        tmp_path / "e1",
        tmp_path / "e2",
        tmp_path / "pkg",
        tmp_path / "cache" / "bitsback" / "models",
    )
    assert (
        user_models_dir({"XDG_CACHE_HOME": "relative"})
        == Path.home() / ".cache" / "bitsback" / "models"
    )


def test_for_particles_prefers_the_trained_count_then_the_closest(tmp_path: Path) -> None:
    _model_folder(tmp_path, "m=mnist_elbo", bound="ELBO", particles=1, test_bpd=(0.25,))
    _model_folder(tmp_path, "m=mnist_iwae5", particles=5, test_bpd=(0.245,))
    _model_folder(tmp_path, "m=letters_iwae5", split="letters", particles=5)
    models = scan([tmp_path])
    assert models.for_particles("EMNIST", "mnist", 50).name == "mnist-iwae5"  # type: ignore[union-attr]
    assert models.for_particles("EMNIST", "mnist", 1).name == "mnist-elbo"  # type: ignore[union-attr]
    assert models.for_particles("emnist", "letters", 1).name == "letters-iwae5"  # type: ignore[union-attr]
    assert models.for_particles("EMNIST", "balanced", 1) is None
    assert models.for_particles("MNIST", "mnist", 1) is None
    _model_folder(tmp_path, "m=mnist_iwae50", particles=50)
    assert scan([tmp_path]).for_particles("EMNIST", "mnist", 50).name == "mnist-iwae50"  # type: ignore[union-attr]


def test_for_particles_keeps_thresholded_and_dynamic_models_apart(tmp_path: Path) -> None:
    """A thresholded model's far lower test bits/dim must not win for dynamic images."""
    _model_folder(tmp_path, "m=mnist_elbo", bound="ELBO", particles=1, test_bpd=(0.25,))
    assert scan([tmp_path]).for_particles("EMNIST", "mnist", 1, binarize=False).name == "mnist-elbo"  # type: ignore[union-attr]
    _model_folder(
        tmp_path, "t=mnist_ctx", bound="ELBO", particles=1, test_bpd=(0.14,), binarize=False
    )
    models = scan([tmp_path])
    assert models.for_particles("EMNIST", "mnist", 1).name == "mnist-elbo"  # type: ignore[union-attr]
    assert models.for_particles("EMNIST", "mnist", 1, binarize=False).name == "mnist-ctx"  # type: ignore[union-attr]
    assert models.get("mnist-ctx").as_dict()["binarization"] == "threshold"  # type: ignore[union-attr]


def test_only_a_package_with_the_marker_is_taken_for_the_models(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, body in (("bb_test_foreign", ""), ("bb_test_marked", "BITSBACK_MODELS = True\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(body, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalogue, "MODELS_PACKAGE", "bb_test_missing")
    assert package_models_dir() is None
    monkeypatch.setattr(catalogue, "MODELS_PACKAGE", "bb_test_foreign")
    assert package_models_dir() is None
    monkeypatch.setattr(catalogue, "MODELS_PACKAGE", "bb_test_marked")
    assert package_models_dir() == tmp_path / "bb_test_marked"


# --- the models shipped in the package ---------------------------------------------------


def _best_in_log(log: Path) -> float:
    with open(log, newline="", encoding="utf-8") as fh:
        return min(float(row["test_bpd"]) for row in csv.DictReader(fh))


def test_the_shipped_models_are_package_data_with_their_figures() -> None:
    assert SHIPPED is not None and SHIPPED.is_dir(), "the checkpoints package is not installed"
    found = scan([SHIPPED])
    assert {"mnist-elbo", "mnist-iwae5", "letters-elbo", "letters-iwae5"} <= set(found.names())
    for entry in found.entries:
        assert entry.folder.parent == SHIPPED
        card = (entry.folder / "MODEL_CARD.md").read_text(encoding="utf-8")
        evaluation = entry.folder / "evaluation.json"
        if evaluation.is_file():
            # Selected on held-out training images; the test figure was measured afterwards.
            assert entry.test_bpd == json.loads(evaluation.read_text())["test_bpd"]
            stated = re.search(
                r"test, measured once after training \| [^|]*?\*\*([0-9.]+)\*\*", card
            )
        else:
            assert entry.test_bpd == _best_in_log(entry.folder / "log.csv")
            # The model card states the same best test loss (rounded to 4 places).
            stated = re.search(r"best test loss \| ([0-9.]+) bits/dim", card)
        assert entry.test_bpd is not None
        assert stated is not None and float(stated.group(1)) == round(entry.test_bpd, 4)
        assert entry.sha256() == hashlib.sha256(entry.checkpoint.read_bytes()).hexdigest()
        assert entry.split in entry.name


def test_a_new_folder_is_picked_up_by_the_rule(tmp_path: Path) -> None:
    assert SHIPPED is not None
    root = tmp_path / "root"
    shutil.copytree(
        SHIPPED / "bin_emnist_split=mnist_iwae5", root / "bin_emnist_split=mnist_iwae50"
    )
    entry = scan([root]).get("mnist-iwae50")
    assert isinstance(entry, CatalogueEntry) and entry.checkpoint.is_file()


def test_the_core_never_walks_up_from_its_own_files() -> None:
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{number}"
        for path in sorted(SOURCE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.parents\[|\.parent\.parent", line)
    ]
    assert offenders == []


def test_evaluation_json_gives_the_test_figure_of_a_validated_model(tmp_path: Path) -> None:
    # A model selected on held-out training images logs validation losses; its test figure
    # is measured once after training and written to evaluation.json, which wins.
    folder = _model_folder(tmp_path, "x=mnist_iwae50", particles=50, test_bpd=(0.24, 0.239))
    (folder / "evaluation.json").write_text(
        '{"test_bpd": 0.2361, "test_images": 10000}', encoding="utf-8"
    )
    entry = scan([tmp_path]).get("mnist-iwae50")
    assert entry is not None and (entry.test_bpd, entry.test_images) == (0.2361, 10000)
    (folder / "evaluation.json").write_text('{"test_bpd": "n/a"}', encoding="utf-8")
    entry = scan([tmp_path]).get("mnist-iwae50")
    assert entry is not None and (entry.test_bpd, entry.test_images) == (0.239, 2000)
