"""Reading the images a user hands to ``compress`` and writing what ``decompress`` restores.

Inputs are recognized by their first bytes, not their names, so a text file called
``x.npy`` is refused as "not a .npy file" instead of reaching numpy's pickle advice:

* ``.npy``: one array, opened as a read-only memory map (a large file is not copied
  into memory before it is checked and coded);
* ``.npz``: exactly one array (several are refused, naming their keys);
* a PNG, or a folder of PNGs (``*.png``, sorted by name; other files are ignored): every
  image black and white (mode ``1``, or ``L`` holding only 0 and 255) and all of one
  size. White (255) is pixel 1, as the datasets' white-on-black digits; the images
  come back as ``uint8`` 0/1 of shape ``(n, height, width)``.

Pickled objects are never loaded. :func:`check_images` is the one check of values,
shapes and dtypes; it names the file in every refusal and reads a memory map in blocks.

Outputs: ``.npy``, ``.npz`` (one array, ``images``) or a folder of PNGs (``000000.png``,
``000001.png``..., mode ``1``), chosen by :func:`output_kind` from the name. A folder is
written beside its final place and renamed into it, so it is never half written.
"""

from __future__ import annotations

import io
import math
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from bitsback_core.errors import BitsbackError

__all__ = [
    "ImageInputError",
    "OutputKind",
    "check_images",
    "check_png_folder_output",
    "images_to_bytes",
    "output_kind",
    "read_images",
    "read_npy_bytes",
    "write_png_folder",
]

OutputKind = Literal["npy", "npz", "png"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: A PNG larger than this is refused before its pixels are decoded (the format's own limit).
MAX_PNG_PIXELS = 2**24
#: Values are checked this many images at a time, so a memory-mapped input stays mapped.
CHECK_BLOCK_IMAGES = 4096
#: dtypes the file format records (docs/format.md, "input dtype").
_FORMAT_DTYPE = re.compile(r"\|b1|\|[ui]1|[<>][ui][248]")
#: The names a PNG folder written by :func:`write_png_folder` holds.
_PNG_NAME = re.compile(r"\d{6,}\.png")


class ImageInputError(BitsbackError, ValueError):
    """An input that is not binary images in a supported file; the message names the file."""


# --- reading ------------------------------------------------------------------------------


def read_images(path: Path) -> np.ndarray:
    """The images in ``path`` (a .npy, .npz, PNG file or folder of PNGs), unchecked values."""
    path = Path(path)
    if path.is_dir():
        return _read_png_folder(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_file():
        raise ImageInputError(f"{path} is not a regular file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(NPY_MAGIC):
        return _read_npy(path)
    if head.startswith(ZIP_MAGIC):
        return _read_npz(path)
    if head.startswith(PNG_MAGIC):
        return _read_png(path)[None]
    expected = {".npy": "a .npy file", ".npz": "a .npz file", ".png": "a PNG file"}
    what = expected.get(path.suffix.lower(), "a .npy, .npz or PNG file")
    raise ImageInputError(f"{path} is not {what} (unrecognized contents)")


def read_npy_bytes(data: bytes, name: str = "stdin") -> np.ndarray:
    """A .npy array held in memory (``compress -`` reads one from stdin)."""
    if not data.startswith(NPY_MAGIC):
        raise ImageInputError(
            f"{name} is not a .npy array (it does not start with numpy's magic bytes)"
        )
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ImageInputError(_npy_problem(name, exc)) from None
    except (OSError, EOFError) as exc:
        raise ImageInputError(f"{name} is not a readable .npy array ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _npy_problem(name: str, exc: BaseException) -> str:
    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
        return (
            f"{name} holds pickled Python objects, not images (refused: pickles are never loaded)"
        )
    return f"{name} is not a readable .npy array ({_one_line(exc)})"


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise ImageInputError(_npy_problem(str(path), exc)) from None
    except (OSError, EOFError):
        pass
    # Not mappable (an empty array, an odd layout): read it whole, or say why not.
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageInputError(_npy_problem(str(path), exc)) from None


def _read_npz(path: Path) -> np.ndarray:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if len(keys) != 1:
                listed = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
                raise ImageInputError(
                    f"{path} holds {len(keys)} arrays ({listed or 'none'}); expected exactly one"
                )
            return archive[keys[0]]
    except ImageInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ImageInputError(_npy_problem(str(path), exc).replace(".npy", ".npz")) from None


def _read_png(path: Path) -> np.ndarray:
    """One black-and-white PNG as ``uint8`` 0/1 of shape ``(height, width)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                raise ImageInputError(f"{path} is not a PNG file")
            width, height = image.size
            if width * height > MAX_PNG_PIXELS:
                raise ImageInputError(
                    f"{path} is {width} x {height}, over {MAX_PNG_PIXELS:,} pixels"
                )
            if image.mode not in ("1", "L"):
                raise ImageInputError(
                    f"{path} is a PNG in mode {image.mode}: expected black and white "
                    "(mode 1, or greyscale L holding only 0 and 255)"
                )
            pixels = np.array(image)
    except ImageInputError:
        raise
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError) as exc:
        raise ImageInputError(f"{path} is not a readable PNG ({_one_line(exc)})") from None
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8)
    grey = np.flatnonzero((pixels != 0) & (pixels != 255))
    if grey.size:
        value = int(pixels.flat[grey[0]])
        raise ImageInputError(
            f"{path} has grey pixels ({grey.size} of {pixels.size}, e.g. value {value}): "
            "expected only 0 and 255 (binarize it first)"
        )
    return (pixels == 255).astype(np.uint8)


def _read_png_folder(folder: Path) -> np.ndarray:
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")
    )
    if not files:
        raise ImageInputError(f"{folder} is a folder without .png files")
    first = _read_png(files[0])
    images = np.empty((len(files), *first.shape), dtype=np.uint8)
    images[0] = first
    for index, path in enumerate(files[1:], start=1):
        pixels = _read_png(path)
        if pixels.shape != first.shape:
            raise ImageInputError(
                f"{path} is {pixels.shape[1]} x {pixels.shape[0]}; {files[0].name} and the images "
                f"before it are {first.shape[1]} x {first.shape[0]} (all must be the same size)"
            )
        images[index] = pixels
    return images


# --- checking -----------------------------------------------------------------------------


def check_images(images: np.ndarray, name: str, obs_dim: int | None = None) -> None:
    """Refuse, naming ``name``, anything but a non-empty array of binary images.

    The array must be ``(n, ...)`` with ``n >= 1``, bool or integer (a dtype the file
    format records), hold only 0 and 1, and have ``obs_dim`` pixels per image when given
    (the model decides: 784 for the shipped models, e.g. 28 x 28).
    """
    dtype = images.dtype
    if dtype.kind not in "biu" or not _FORMAT_DTYPE.fullmatch(dtype.str):
        raise ImageInputError(
            f"{name} holds {dtype} values; binary images must be bool or integer 0/1"
        )
    if images.ndim < 2 or images.shape[0] == 0:
        raise ImageInputError(
            f"{name} holds an array of shape {images.shape}: expected (images, ...) with at least "
            "one image, e.g. (n, 28, 28) or (n, 784)"
        )
    pixels = math.prod(images.shape[1:])
    if obs_dim is not None and pixels != obs_dim:
        shape = " x ".join(str(d) for d in images.shape[1:])
        raise ImageInputError(
            f"{name} holds images of {shape} ({pixels} pixels); the model codes {obs_dim} pixels"
        )
    if dtype.kind == "b":
        return
    for start in range(0, images.shape[0], CHECK_BLOCK_IMAGES):
        block = np.asarray(images[start : start + CHECK_BLOCK_IMAGES])
        bad = np.flatnonzero((block != 0) & (block != 1))
        if bad.size:
            index = start + int(bad[0]) // pixels
            value = block.flat[bad[0]].item()
            raise ImageInputError(
                f"{name} is not binary: image {index} holds the value {value} (only 0 and 1 are "
                "allowed; binarize first)"
            )


# --- writing ------------------------------------------------------------------------------


def output_kind(path: Path) -> OutputKind:
    """What ``decompress`` writes to ``path``: by suffix .npy, .npz, else a folder of PNGs."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    return "png"


def images_to_bytes(images: np.ndarray, kind: OutputKind) -> bytes:
    """``images`` as the bytes of a .npy file or a .npz file holding one array, ``images``."""
    buffer = io.BytesIO()
    if kind == "npy":
        np.save(buffer, images, allow_pickle=False)
    elif kind == "npz":
        np.savez(buffer, images=images)
    else:
        raise ValueError(f"{kind} output is a folder, not bytes")
    return buffer.getvalue()


def png_names(count: int) -> list[str]:
    """``000000.png``...: six digits or more, one width per folder so names sort in order."""
    width = max(6, len(str(max(count - 1, 0))))
    return [f"{i:0{width}d}.png" for i in range(count)]


def check_png_folder_output(path: Path, image_shape: Sequence[int], overwrite: bool) -> None:
    """Refuse a PNG folder ``decompress`` cannot write, before anything is decoded.

    PNGs hold 2-D images only; an existing folder is replaced (with ``overwrite``) only if
    it holds nothing but PNGs named as this function writes them, so ``-f`` never deletes
    unrelated files.
    """
    if len(image_shape) != 2:
        shape = " x ".join(str(d) for d in image_shape)
        raise ImageInputError(
            f"{path}: a folder of PNGs needs 2-D images, these are {shape}; name an output "
            f"ending in .npy or .npz (-o {path.name or 'images'}.npy)"
        )
    if path.is_dir() and overwrite:
        others = [
            p.name for p in path.iterdir() if not (p.is_file() and _PNG_NAME.fullmatch(p.name))
        ]
        if others:
            raise ImageInputError(
                f"{path} holds other things than decompressed PNGs ({others[0]!r}...): "
                "not replacing it even with --force"
            )


def write_png_folder(images: np.ndarray, folder: Path, overwrite: bool = False) -> None:
    """Write ``(n, h, w)`` 0/1 images as mode-1 PNGs into a new ``folder``, atomically.

    The PNGs go to a hidden folder beside ``folder`` that is renamed into place when
    complete; with ``overwrite`` an existing folder (see :func:`check_png_folder_output`)
    or file is replaced only after the new folder is complete.
    """
    from PIL import Image

    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder} already exists (use --force to overwrite)")
    check_png_folder_output(folder, images.shape[1:], overwrite)
    token = secrets.token_hex(6)
    tmp = folder.parent / f".{folder.name}.{token}.tmp"
    old = folder.parent / f".{folder.name}.{token}.old"
    tmp.mkdir()
    try:
        for name, image in zip(png_names(images.shape[0]), images):
            Image.fromarray(np.asarray(image, dtype=bool)).save(tmp / name, format="PNG")
        if folder.exists() or folder.is_symlink():
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():
        old.unlink()
