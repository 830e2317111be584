"""Tests for the EMNIST / MNIST loaders: real shared files, orientation, errors, subsets."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from bitsback_emnist.datasets import EMNIST, MNIST, subset_indices
from bitsback_emnist.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxFormatError,
    read_idx_header,
    read_idx_images,
    write_idx_images,
    write_idx_labels,
)
from bitsback_emnist.locate import DatasetNotFoundError

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def shared() -> Path:
    if not (SHARED_DATA / "emnist").is_dir() or not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} (emnist/, mnist/) is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def emnist_mnist_test(shared: Path) -> EMNIST:
    return EMNIST(shared / "emnist", "mnist", train=False)


def _asymmetric_upright() -> np.ndarray:
    """A 28x28 image that differs from its transpose and from its flips."""
    img = np.zeros((28, 28), dtype=np.uint8)
    img[3, 5:20] = 200  # a horizontal bar near the top
    img[10:25, 22] = 90  # a vertical bar on the right
    img[26, 1] = 255  # a dot bottom left
    return img


def _write_split(directory: Path, names: tuple[str, str], stored: np.ndarray) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_idx_images(directory / names[0], stored)
    write_idx_labels(directory / names[1], np.arange(len(stored), dtype=np.uint8) % 10)


# --- real shared files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("split", "train", "documented"),
    [
        ("mnist", False, 10000),
        ("mnist", True, 17368),
        ("letters", False, 14800),
        ("letters", True, 3536),
    ],
)
def test_real_emnist_lengths(shared: Path, split: str, train: bool, documented: int) -> None:
    ds = EMNIST(shared / "emnist", split, train)
    header = read_idx_header(ds.images_path, IMAGES_MAGIC)
    assert len(ds) == header.count == documented  # the subset sizes of the shared README
    labels = ds.labels(slice(None))
    assert labels.shape == (len(ds),) and labels.dtype == np.uint8
    lo, hi = (0, 9) if split == "mnist" else (1, 26)
    assert lo <= labels.min() and labels.max() <= hi


def test_real_intensities_shape_and_cache(emnist_mnist_test: EMNIST) -> None:
    x = emnist_mnist_test.intensities(np.array([0, 5, 9999]))
    assert x.shape == (3, 784) and x.dtype == np.uint8
    full = emnist_mnist_test.intensities(slice(None))
    np.testing.assert_array_equal(x, full[[0, 5, 9999]])
    # Cached: a second call hands out the same decoded buffer, which cannot be mutated.
    assert np.shares_memory(full, emnist_mnist_test.intensities(slice(0, 10)))
    assert not full.flags.writeable


def test_real_emnist_orientation_matches_mnist(shared: Path, emnist_mnist_test: EMNIST) -> None:
    """After the transpose, EMNIST digits look like MNIST digits; before it they do not."""
    mnist_mean = MNIST(shared / "mnist", "mnist", train=False).intensities(slice(None)).mean(0)
    upright_mean = emnist_mnist_test.intensities(slice(None)).mean(0)
    stored = read_idx_images(emnist_mnist_test.images_path)
    stored_mean = stored.reshape(len(stored), -1).mean(0)
    upright_corr = np.corrcoef(upright_mean, mnist_mean)[0, 1]
    stored_corr = np.corrcoef(stored_mean, mnist_mean)[0, 1]
    assert upright_corr > stored_corr + 0.1
    assert upright_corr > 0.8


def test_parent_dir_finds_subdirectories(shared: Path) -> None:
    ds = EMNIST(shared, "letters", train=True)
    assert ds.data_dir == shared / "emnist" and len(ds) == 3536
    assert MNIST(shared, "mnist", train=False).data_dir == shared / "mnist"


def test_real_mnist_test(shared: Path) -> None:
    ds = MNIST(shared / "mnist", "mnist", train=False)
    assert len(ds) == read_idx_header(ds.images_path, IMAGES_MAGIC).count == 10000
    assert ds.intensities(slice(0, 2)).shape == (2, 784)


# --- orientation on synthetic files ------------------------------------------------------


def test_emnist_transposes_stored_images(tmp_path: Path) -> None:
    upright = _asymmetric_upright()
    _write_split(tmp_path, EMNIST.file_names("mnist", False), np.stack([upright.T, upright.T]))
    got = EMNIST(tmp_path, "mnist", train=False).intensities(np.array([1]))
    np.testing.assert_array_equal(got[0].reshape(28, 28), upright)
    assert not np.array_equal(got[0], upright.T.reshape(-1))


def test_mnist_keeps_stored_orientation(tmp_path: Path) -> None:
    upright = _asymmetric_upright()
    _write_split(tmp_path, MNIST.file_names("mnist", True), upright[None])
    got = MNIST(tmp_path, "mnist", train=True).intensities(slice(None))
    np.testing.assert_array_equal(got.reshape(28, 28), upright)


# --- configuration and errors -------------------------------------------------------------


def test_file_names() -> None:
    assert EMNIST.file_names("letters", True) == (
        "emnist-letters-train-images-idx3-ubyte.gz",
        "emnist-letters-train-labels-idx1-ubyte.gz",
    )
    assert MNIST.file_names("mnist", False) == (
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    assert EMNIST.PLUGIN_NAME == "EMNIST" and EMNIST.SPLITS == ("mnist", "letters")
    assert MNIST.PLUGIN_NAME == "MNIST" and MNIST.SPLITS == ("mnist",)


def test_other_official_split_accepted_when_present(tmp_path: Path) -> None:
    _write_split(tmp_path, EMNIST.file_names("digits", True), np.zeros((4, 28, 28), np.uint8))
    assert len(EMNIST(tmp_path, "digits", train=True)) == 4


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown EMNIST split 'kanji'.*mnist, letters"):
        EMNIST(tmp_path, "kanji", train=False)
    with pytest.raises(ValueError, match="unknown MNIST split 'letters'; choose one of mnist"):
        MNIST(tmp_path, "letters", train=False)


def test_train_must_be_bool(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train must be True or False"):
        EMNIST(tmp_path, "mnist", train="test")  # type: ignore[arg-type]


def test_missing_files_listed(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        EMNIST(tmp_path, "letters", train=False)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "emnist-letters-test-images-idx3-ubyte.gz" in msg
    assert "emnist-letters-test-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path) in msg and str(tmp_path / "emnist") in msg
    assert f"bitsback download --dataset EMNIST --datadir {tmp_path}" in msg
    assert err.value.missing == EMNIST.file_names("letters", False)


def test_missing_labels_only(tmp_path: Path) -> None:
    names = MNIST.file_names("mnist", True)
    write_idx_images(tmp_path / names[0], np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DatasetNotFoundError) as err:
        MNIST(tmp_path, "mnist", train=True)
    assert err.value.missing == (names[1],)
    assert "bitsback download" not in str(err.value)  # MNIST has no downloader


def test_bad_magic_surfaces_on_load(tmp_path: Path) -> None:
    names = EMNIST.file_names("mnist", True)
    write_idx_labels(tmp_path / names[0], np.zeros(3, np.uint8))  # labels where images belong
    write_idx_labels(tmp_path / names[1], np.zeros(3, np.uint8))
    ds = EMNIST(tmp_path, "mnist", train=True)
    with pytest.raises(IdxFormatError, match=r"bad magic 0x00000801 in .*mnist-train-images"):
        ds.intensities(slice(None))


def test_truncated_images_surface_on_load(tmp_path: Path) -> None:
    names = EMNIST.file_names("mnist", False)
    header = struct.pack(">IIII", IMAGES_MAGIC, 5, 28, 28)
    (tmp_path / names[0]).write_bytes(header + bytes(784 * 3 + 10))
    write_idx_labels(tmp_path / names[1], np.zeros(5, np.uint8))
    ds = EMNIST(tmp_path, "mnist", train=False)
    assert len(ds) == 5  # the header count; data is only decoded when used
    with pytest.raises(IdxFormatError, match="is truncated: header says 5 images, data holds 3"):
        ds.intensities(np.array([0]))


def test_label_count_must_match(tmp_path: Path) -> None:
    names = EMNIST.file_names("mnist", False)
    write_idx_images(tmp_path / names[0], np.zeros((3, 28, 28), np.uint8))
    (tmp_path / names[1]).write_bytes(struct.pack(">II", LABELS_MAGIC, 2) + bytes(2))
    with pytest.raises(IdxFormatError, match="holds 2 labels but .* holds 3 images"):
        EMNIST(tmp_path, "mnist", train=False).labels(slice(None))


def test_image_size_must_be_28x28(tmp_path: Path) -> None:
    _write_split(tmp_path, MNIST.file_names("mnist", False), np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(IdxFormatError, match="holds 32x32 images; MNIST needs 28x28"):
        MNIST(tmp_path, "mnist", train=False).intensities(slice(None))


def test_index_forms(tmp_path: Path) -> None:
    stored = np.arange(6 * 784, dtype=np.int64).reshape(6, 28, 28) % 256
    _write_split(tmp_path, MNIST.file_names("mnist", False), stored)
    ds = MNIST(tmp_path, "mnist", train=False)
    assert ds.intensities(np.int64(2)).shape == (1, 784)  # a scalar still gives a batch
    assert ds.intensities([0, 3]).shape == (2, 784)  # type: ignore[arg-type]
    assert ds.labels(np.array([5])).tolist() == [5]
    with pytest.raises(ValueError, match="indices must be integers"):
        ds.intensities(np.array([0.5]))
    with pytest.raises(IndexError):
        ds.intensities(np.array([6]))


# --- binarization and subsets ---------------------------------------------------------------


def test_binarization_reproducible(emnist_mnist_test: EMNIST, shared: Path) -> None:
    idx = subset_indices(len(emnist_mnist_test), 1000, seed=3)
    a = emnist_mnist_test.binarized(idx, seed=7)
    b = EMNIST(shared / "emnist", "mnist", train=False).binarized(idx, seed=7)  # fresh instance
    c = emnist_mnist_test.binarized(idx, seed=8)
    assert a.dtype == np.uint8 and a.shape == (1000, 784) and set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.01


def test_binarization_follows_intensity(emnist_mnist_test: EMNIST) -> None:
    idx = np.arange(1000)
    x = emnist_mnist_test.intensities(idx) / 255.0
    bits = emnist_mnist_test.binarized(idx, seed=0)
    assert not bits[x == 0].any() and bits[x == 1].all()  # certain pixels are exact
    assert abs(bits.mean() - x.mean()) < 0.005
    # Per pixel over 1000 images: standard error <= 0.016, so 0.08 is > 5 sigma.
    assert np.abs(bits.mean(0) - x.mean(0)).max() < 0.08


def test_subset_indices() -> None:
    a = subset_indices(10000, 500, seed=1)
    assert a.dtype == np.int64 and a.shape == (500,)
    assert np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < 10000  # sorted, distinct, in range
    np.testing.assert_array_equal(a, subset_indices(10000, 500, seed=1))
    assert not np.array_equal(a, subset_indices(10000, 500, seed=2))
    np.testing.assert_array_equal(subset_indices(7, 7, seed=0), np.arange(7))
    np.testing.assert_array_equal(subset_indices(7, 100, seed=0), np.arange(7))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 0, 0), "must be positive"),
        ((10, -3, 0), "must be positive"),
        ((-1, 3, 0), "n_total must be >= 0"),
        ((10, 3, -1), "seed must be >= 0"),
        ((10, 2.5, 0), "num must be an integer"),
        ((10, True, 0), "num must be an integer"),
    ],
)
def test_subset_indices_rejects(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        subset_indices(*args)


def test_subset_selects_matching_rows(emnist_mnist_test: EMNIST) -> None:
    idx = subset_indices(len(emnist_mnist_test), 50, seed=4)
    sub = emnist_mnist_test.intensities(idx)
    np.testing.assert_array_equal(sub, emnist_mnist_test.intensities(slice(None))[idx])
