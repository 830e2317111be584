"""Tests for the IDX reader/writer: round trips, gzip detection, header validation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from bitsback_emnist.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxFormatError,
    read_idx_header,
    read_idx_images,
    read_idx_labels,
    write_idx_images,
    write_idx_labels,
)

SHARED_EMNIST = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "emnist"


def _images(n: int = 3, rows: int = 4, cols: int = 5) -> np.ndarray:
    return np.arange(n * rows * cols, dtype=np.uint8).reshape(n, rows, cols)


@pytest.mark.parametrize("name", ["imgs.gz", "imgs.idx"])
def test_images_round_trip(tmp_path: Path, name: str) -> None:
    images = _images()
    write_idx_images(tmp_path / name, images)
    got = read_idx_images(tmp_path / name)
    assert got.dtype == np.uint8 and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, images)
    # Gzip iff the suffix says so (the writer default).
    assert ((tmp_path / name).read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_labels_round_trip(tmp_path: Path) -> None:
    labels = np.array([0, 9, 3, 255], dtype=np.uint8)
    write_idx_labels(tmp_path / "l.gz", labels)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "l.gz"), labels)


def test_gzip_detected_by_magic_not_suffix(tmp_path: Path) -> None:
    images = _images()
    # A gunzipped file that kept its .gz name, and a gzip file without the suffix.
    write_idx_images(tmp_path / "plain.gz", images, compress=False)
    write_idx_images(tmp_path / "packed.raw", images, compress=True)
    np.testing.assert_array_equal(read_idx_images(tmp_path / "plain.gz"), images)
    np.testing.assert_array_equal(read_idx_images(tmp_path / "packed.raw"), images)


def test_header_layout_is_big_endian(tmp_path: Path) -> None:
    write_idx_images(tmp_path / "x", _images(2, 3, 7), compress=False)
    raw = (tmp_path / "x").read_bytes()
    assert raw[:16] == struct.pack(">IIII", 2051, 2, 3, 7)
    assert len(raw) == 16 + 2 * 3 * 7


def test_result_is_read_only(tmp_path: Path) -> None:
    write_idx_images(tmp_path / "x.gz", _images())
    got = read_idx_images(tmp_path / "x.gz")
    with pytest.raises(ValueError):
        got[0, 0, 0] = 1


def test_bad_magic_names_file_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "swapped.gz"
    write_idx_labels(path, np.zeros(4, dtype=np.uint8))
    with pytest.raises(IdxFormatError) as err:
        read_idx_images(path)
    assert f"bad magic 0x00000801 in {path}: expected 2051 (IDX images)" in str(err.value)
    junk = _write_raw(tmp_path / "junk", b"\x12\x34\x56\x78" + bytes(8))
    with pytest.raises(IdxFormatError) as err:
        read_idx_labels(junk)
    assert f"bad magic 0x12345678 in {junk}: expected 2049 (IDX labels)" in str(err.value)


def _write_raw(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_truncated_data_reports_counts(tmp_path: Path) -> None:
    full = struct.pack(">IIII", IMAGES_MAGIC, 3, 2, 2) + bytes(12)
    path = _write_raw(tmp_path / "cut.gz", full[:-5], compress=True)
    with pytest.raises(IdxFormatError) as err:
        read_idx_images(path)
    assert f"{path} is truncated: header says 3 images, data holds 1" in str(err.value)


def test_truncated_labels(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "l", struct.pack(">II", LABELS_MAGIC, 10) + bytes(7))
    with pytest.raises(IdxFormatError, match="truncated: header says 10 labels, data holds 7"):
        read_idx_labels(path)


def test_trailing_bytes_rejected(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "long", struct.pack(">II", LABELS_MAGIC, 2) + bytes(5))
    with pytest.raises(IdxFormatError, match="3 unexpected bytes after the 2 labels"):
        read_idx_labels(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "h", struct.pack(">II", IMAGES_MAGIC, 5))
    with pytest.raises(IdxFormatError, match="truncated: header needs 16 bytes"):
        read_idx_images(path)
    with pytest.raises(IdxFormatError, match="too short"):
        read_idx_images(_write_raw(tmp_path / "e", b"\x00\x00"))


def test_zero_size_images_rejected(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "z", struct.pack(">IIII", IMAGES_MAGIC, 1, 0, 28))
    with pytest.raises(IdxFormatError, match="empty image size 0x28"):
        read_idx_images(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(struct.pack(">II", LABELS_MAGIC, 100) + bytes(100))
    path = _write_raw(tmp_path / "bad.gz", packed[:20])
    with pytest.raises(IdxFormatError, match="not a readable gzip file"):
        read_idx_labels(path)


def test_header_only_read(tmp_path: Path) -> None:
    # The header reader must not need the data: it works on a truncated file.
    path = _write_raw(tmp_path / "h.gz", struct.pack(">IIII", IMAGES_MAGIC, 1000, 28, 28), True)
    header = read_idx_header(path, IMAGES_MAGIC)
    assert header.count == 1000 and header.shape == (1000, 28, 28)
    assert header.nbytes == 1000 * 784 and header.header_size == 16
    with pytest.raises(ValueError, match="expected_magic"):
        read_idx_header(path, 1234)


def test_writer_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 dimensions"):
        write_idx_images(tmp_path / "x", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="0..255"):
        write_idx_labels(tmp_path / "y", np.array([1, 256]))
    write_idx_labels(tmp_path / "z", np.array([1, 255]))  # wider ints in range are fine
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "z"), [1, 255])


def test_real_file_header_matches_data() -> None:
    if not SHARED_EMNIST.is_dir():
        pytest.skip(f"shared data folder {SHARED_EMNIST} is absent")
    path = SHARED_EMNIST / "emnist-mnist-test-images-idx3-ubyte.gz"
    header = read_idx_header(path, IMAGES_MAGIC)
    images = read_idx_images(path)
    assert images.shape == header.shape == (10000, 28, 28)
