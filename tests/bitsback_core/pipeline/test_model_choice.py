"""Choosing the installed model that fits the input best (compress without a model named)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.cli.main import main
from bitsback_core.compression.container import CompressedFile
from bitsback_core.models.bounds import ideal_bpd
from bitsback_core.models.catalogue import Catalogue
from bitsback_core.pipeline.components import model_catalogue
from bitsback_core.pipeline.model_choice import choose_model, sample_rows
from bitsback_core.registry import load_registry
from bitsback_emnist.sample import load_sample


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images, _ = load_sample()
    return images[:60] >= 128


def test_sample_rows_spread_over_the_input() -> None:
    images = np.arange(1000)[:, None] % 2 == np.zeros((1000, 4), dtype=int)
    rows = sample_rows(images, 5)
    assert rows.shape == (5, 4) and rows.dtype == np.uint8
    assert sample_rows(images[:3], 5).shape == (3, 4)


def test_the_lowest_score_wins_and_scores_are_the_models_elbo(digits: np.ndarray) -> None:
    registry = load_registry()
    installed = model_catalogue()
    pair = Catalogue(
        tuple(e for e in installed.entries if e.name in ("mnist-elbo", "letters-elbo"))
    )
    assert len(pair.entries) == 2
    entry, scores = choose_model(digits, pair, registry, seed=3)
    # Digits are coded better by the digit model than by the letter model.
    assert entry is not None and entry.name == "mnist-elbo"
    assert [s.name for s in scores] == ["mnist-elbo", "letters-elbo"]
    assert scores[0].bpd < scores[1].bpd
    mnist = installed.get("mnist-elbo")
    assert mnist is not None
    model = registry.get("model", "BinaryVAE").from_config(
        mnist.train_config.as_dict(), mnist.checkpoint, "cpu"
    )
    rows = sample_rows(digits)
    assert scores[0].bpd == ideal_bpd(model, rows, 1, 3)


def test_models_of_another_size_are_left_out(digits: np.ndarray) -> None:
    registry = load_registry()
    entry, scores = choose_model(digits[:, :14, :14], model_catalogue(), registry)
    assert entry is None and scores == ()


def test_compress_without_a_model_uses_the_best_and_says_so(
    digits: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "x.npy"
    np.save(source, digits[:6])
    code = main(["compress", str(source), "--coder", "BitsBackCoder", "--json", "true"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "model not set: " in captured.err and "fits best" in captured.err
    chosen = captured.err.split("model not set: ")[1].split()[0]
    header = CompressedFile.read(tmp_path / "x.npy.bbz").header
    assert header.model_name == chosen
    assert json.loads(captured.out)["num_images"] == 6
    # A named model is used as given, with no scoring.
    code = main(["compress", str(source), "-f", "--checkpoint", "letters-elbo"])
    captured = capsys.readouterr()
    assert code == 0 and "model not set" not in captured.err
    assert CompressedFile.read(tmp_path / "x.npy.bbz").header.model_name == "letters-elbo"
