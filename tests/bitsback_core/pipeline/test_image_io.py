"""Reading and writing image files: what is accepted, what is refused (by name), round trips."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bitsback_core.pipeline.image_io import (
    ImageInputError,
    check_images,
    check_png_folder_output,
    images_to_bytes,
    output_kind,
    read_images,
    read_npy_bytes,
    write_png_folder,
)


def _binary(n: int = 4, shape: tuple[int, ...] = (28, 28), dtype: str = "uint8") -> np.ndarray:
    rng = np.random.default_rng(n)
    return (rng.random((n, *shape)) < 0.3).astype(dtype)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int64", ">i4", "<u2"])
def test_npy_keeps_dtype_and_shape(tmp_path: Path, dtype: str) -> None:
    x = _binary(dtype=dtype)
    np.save(tmp_path / "x.npy", x)
    back = read_images(tmp_path / "x.npy")
    assert back.dtype == x.dtype and back.shape == x.shape
    np.testing.assert_array_equal(back, x)
    check_images(back, "x.npy", 784)


def test_npz_with_one_array_and_with_several(tmp_path: Path) -> None:
    x = _binary(dtype="int64").reshape(4, 784)
    np.savez(tmp_path / "one.npz", anything=x)
    np.testing.assert_array_equal(read_images(tmp_path / "one.npz"), x)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(
        ImageInputError, match=r"two.npz holds 2 arrays \('a', 'b'\); expected exactly one"
    ):
        read_images(tmp_path / "two.npz")


def test_foreign_files_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "notes.npy").write_text("not an array")
    with pytest.raises(ImageInputError, match="notes.npy is not a .npy file"):
        read_images(tmp_path / "notes.npy")
    (tmp_path / "data.bin").write_bytes(b"\x00" * 20)
    with pytest.raises(ImageInputError, match="data.bin is not a .npy, .npz or PNG file"):
        read_images(tmp_path / "data.bin")
    with pytest.raises(FileNotFoundError, match="none.npy does not exist"):
        read_images(tmp_path / "none.npy")


def test_pickled_arrays_are_never_loaded(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ImageInputError, match="obj.npy holds pickled Python objects"):
        read_images(tmp_path / "obj.npy")
    (tmp_path / "p.npy").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ImageInputError, match="p.npy is not a .npy file"):
        read_images(tmp_path / "p.npy")


def test_stdin_bytes() -> None:
    import io

    x = _binary(dtype="bool")
    buffer = io.BytesIO()
    np.save(buffer, x)
    np.testing.assert_array_equal(read_npy_bytes(buffer.getvalue()), x)
    with pytest.raises(ImageInputError, match="stdin is not a .npy array"):
        read_npy_bytes(b"hello")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.full((2, 28, 28), 7, np.uint8), "image 0 holds the value 7"),
        (np.zeros((2, 28, 28), np.float32), "holds float32 values"),
        (np.zeros((2, 27, 27), np.uint8), r"images of 27 x 27 \(729 pixels\); the model codes 784"),
        (np.zeros((784,), np.uint8), r"shape \(784,\)"),
        (np.zeros((0, 784), np.uint8), r"shape \(0, 784\)"),
    ],
)
def test_check_images_refuses_by_name(array: np.ndarray, match: str) -> None:
    with pytest.raises(ImageInputError, match=match) as info:
        check_images(array, "in.npy", 784)
    assert str(info.value).startswith("in.npy ")


def test_check_images_finds_a_late_bad_value_in_blocks() -> None:
    x = np.zeros((5000, 784), np.int64)
    x[4500, 3] = -1
    with pytest.raises(ImageInputError, match="image 4500 holds the value -1"):
        check_images(x, "big.npy", 784)


def test_png_folder_sorted_by_name_white_is_one(tmp_path: Path) -> None:
    x = _binary(3)
    folder = tmp_path / "digits"
    folder.mkdir()
    Image.fromarray((x[0] * 255).astype(np.uint8)).save(folder / "b.png")  # L mode, 0/255
    Image.fromarray(x[1].astype(bool)).save(folder / "c.png")  # mode 1
    Image.fromarray((x[2] * 255).astype(np.uint8)).save(folder / "a.png")
    (folder / "README.txt").write_text("ignored")
    back = read_images(folder)
    assert back.dtype == np.uint8 and back.shape == (3, 28, 28)
    np.testing.assert_array_equal(back, x[[2, 0, 1]])
    np.testing.assert_array_equal(read_images(folder / "c.png"), x[1:2])


def test_grey_colour_and_mixed_size_pngs_are_refused(tmp_path: Path) -> None:
    grey = np.zeros((28, 28), np.uint8)
    grey[3, 3] = 128
    Image.fromarray(grey).save(tmp_path / "grey.png")
    with pytest.raises(ImageInputError, match="grey.png has grey pixels.*value 128"):
        read_images(tmp_path / "grey.png")
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ImageInputError, match="rgb.png is a PNG in mode RGB"):
        read_images(tmp_path / "rgb.png")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((28, 28), bool)).save(folder / "0.png")
    Image.fromarray(np.zeros((20, 28), bool)).save(folder / "1.png")
    with pytest.raises(ImageInputError, match="1.png is 28 x 20; 0.png .* are 28 x 28"):
        read_images(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageInputError, match="empty is a folder without .png files"):
        read_images(empty)


def test_png_folder_round_trip_and_atomic_overwrite(tmp_path: Path) -> None:
    x = _binary(12, dtype="bool")
    out = tmp_path / "out"
    write_png_folder(x, out)
    assert sorted(p.name for p in out.iterdir())[:2] == ["000000.png", "000001.png"]
    np.testing.assert_array_equal(read_images(out), x.astype(np.uint8))
    with pytest.raises(FileExistsError, match="already exists"):
        write_png_folder(x, out)
    write_png_folder(x[:3], out, overwrite=True)
    assert len(list(out.iterdir())) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folders left
    (out / "mine.txt").write_text("keep")
    with pytest.raises(ImageInputError, match="not replacing it even with --force"):
        check_png_folder_output(out, (28, 28), overwrite=True)
    with pytest.raises(ImageInputError, match="a folder of PNGs needs 2-D images, these are 784"):
        check_png_folder_output(tmp_path / "flat", (784,), overwrite=False)


def test_output_kinds_and_bytes(tmp_path: Path) -> None:
    assert [output_kind(Path(n)) for n in ("a.npy", "b.NPZ", "digits", "x.png")] == [
        "npy",
        "npz",
        "png",
        "png",
    ]
    x = _binary(dtype="int64")
    (tmp_path / "a.npz").write_bytes(images_to_bytes(x, "npz"))
    with np.load(tmp_path / "a.npz") as archive:
        assert archive.files == ["images"]
        np.testing.assert_array_equal(archive["images"], x)
    (tmp_path / "a.npy").write_bytes(images_to_bytes(x, "npy"))
    assert np.load(tmp_path / "a.npy").dtype == np.int64
