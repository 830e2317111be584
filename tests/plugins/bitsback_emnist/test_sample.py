"""The packaged EMNIST mnist test sample and the dataset's fallback to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitsback_emnist import EMNIST, DatasetNotFoundError
from bitsback_emnist.make_sample import make_sample
from bitsback_emnist.sample import SAMPLE_COUNT, load_sample, sample_path

SHARED_EMNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "emnist"


@pytest.fixture
def no_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Nothing configured and an empty per-user cache."""
    monkeypatch.delenv("BITSBACK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_the_sample_is_package_data() -> None:
    assert sample_path().is_file()
    images, labels = load_sample()
    assert images.shape == (SAMPLE_COUNT, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (SAMPLE_COUNT,) and labels.dtype == np.uint8
    assert 0 < images.mean() < 255 and set(np.unique(labels)) <= set(range(10))


def test_the_sample_is_the_first_images_of_the_official_test_file(tmp_path: Path) -> None:
    if not (SHARED_EMNIST / "emnist-mnist-test-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the EMNIST mnist test files are not in {SHARED_EMNIST}")
    full = EMNIST(SHARED_EMNIST, "mnist", train=False)
    images, labels = load_sample()
    assert np.array_equal(
        images.reshape(SAMPLE_COUNT, -1), full.intensities(slice(0, SAMPLE_COUNT))
    )
    assert np.array_equal(labels, full.labels(slice(0, SAMPLE_COUNT)))
    # The generating script reproduces the shipped arrays.
    written = make_sample(SHARED_EMNIST, tmp_path / "sample.npz")
    again = load_sample(written)
    assert np.array_equal(again[0], images) and np.array_equal(again[1], labels)


def test_no_data_directory_falls_back_to_the_sample_and_says_so(no_data: Path) -> None:
    dataset = EMNIST(None, "mnist", train=False)
    assert len(dataset) == SAMPLE_COUNT
    assert (
        dataset.notice is not None
        and "packaged sample" in dataset.notice
        and "\n" not in dataset.notice
    )
    images, labels = load_sample()
    assert np.array_equal(dataset.intensities(slice(None)), images.reshape(SAMPLE_COUNT, -1))
    assert np.array_equal(dataset.labels(np.arange(3)), labels[:3])
    bits = dataset.binarized(np.arange(4), seed=7)
    assert bits.shape == (4, 784) and set(np.unique(bits)) <= {0, 1}


def test_the_sample_never_replaces_what_the_user_asked_for(
    no_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DatasetNotFoundError):
        EMNIST(no_data / "explicit", "mnist", train=False)  # --datadir without the files
    with pytest.raises(DatasetNotFoundError):
        EMNIST(None, "mnist", train=True)  # only the test part ships
    with pytest.raises(DatasetNotFoundError):
        EMNIST(None, "letters", train=False)
    monkeypatch.setenv("BITSBACK_DATA_DIR", str(no_data / "env"))
    with pytest.raises(DatasetNotFoundError):
        EMNIST(None, "mnist", train=False)


def test_real_files_win_over_the_sample(no_data: Path) -> None:
    if not SHARED_EMNIST.is_dir():
        pytest.skip(f"the EMNIST files are not in {SHARED_EMNIST}")
    dataset = EMNIST(SHARED_EMNIST, "mnist", train=False)
    assert dataset.notice is None and len(dataset) >= SAMPLE_COUNT
