"""Generic lossless codecs on the same binary images the bits-back coders see.

The paper compares its coders against gzip, bz2, lzma, PNG and WebP. None of them knows
anything about digits, so they set the bar a learned model has to clear. Two ways of
feeding them the images, and the table says which each row used:

* ``whole set``: gzip, bz2 and lzma get *one* stream, every pixel bit of every image in
  order, packed eight to a byte with :func:`numpy.packbits`. Packing matters: a byte per
  pixel would make a codec spend its effort rediscovering that seven bits are always zero.
* ``per image``: PNG and WebP are image formats, so each image is its own file (1-bit PNG;
  lossless WebP of a black-and-white grayscale image) and the file sizes are summed. Every
  file pays its own header, which is the price those formats charge for random access.
* ``grid``: the same two formats once more on a single image that tiles the whole set in a
  near-square grid, so they too see the set as one stream and pay one header.

Every baseline is decoded again and compared with the input, so a number in the table is
the size of something that really round-trips.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs
import numpy as np

from bitsback_core.errors import BitsbackError

__all__ = [
    "BASELINES",
    "Baseline",
    "BaselineResult",
    "GridBaseline",
    "ImageFormatBaseline",
    "StreamBaseline",
    "image_shape",
    "run_baseline",
    "run_baselines",
]

#: How a baseline sees the images (the table's "coded as" column).
WHOLE_SET = "set, 1 stream"
PER_IMAGE = "1 file/image"
GRID = "set, 1 grid image"


def image_shape(obs_dim: int) -> tuple[int, int]:
    """``(side, side)`` for a square image of ``obs_dim`` pixels (28 x 28 for EMNIST).

    Datasets hand images over flattened; image formats need the 2-D shape back, and a
    wrong guess would make PNG's row filters work on garbage rows.
    """
    side = math.isqrt(obs_dim)
    if obs_dim < 1 or side * side != obs_dim:
        raise ValueError(
            f"images of {obs_dim} pixels are not square: pass image_shape=(height, width) "
            "for the PNG and WebP baselines"
        )
    return side, side


def _check_images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"expected binary images of shape (num_images, obs_dim), got shape {x.shape}"
        )
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("the baselines code binary images: every pixel must be 0 or 1")
    return x.astype(np.uint8, copy=False)


class Baseline(Protocol):
    """A codec that turns ``(num_images, obs_dim)`` binary images into files and back."""

    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> str:
        """How the images were fed to the codec (a whole-set stream or one file each)."""
        ...

    @property
    def settings(self) -> str: ...

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        """The compressed files (one for a whole-set codec, one per image otherwise)."""
        ...

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        """Inverse of :meth:`compress`: uint8 images of shape ``(num_images, h * w)``."""
        ...


@attrs.frozen
class StreamBaseline:
    """A byte-stream codec over the bit-packed whole set."""

    name: str
    settings: str
    encode_bytes: Callable[[bytes], bytes]
    decode_bytes: Callable[[bytes], bytes]
    scope: str = WHOLE_SET

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        return [self.encode_bytes(np.packbits(x.reshape(-1)).tobytes())]

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        (data,) = files
        bits = np.unpackbits(np.frombuffer(self.decode_bytes(data), dtype=np.uint8))
        pixels = num_images * shape[0] * shape[1]
        if bits.size < pixels:
            raise ValueError(f"{self.name} decoded {bits.size} bits, expected {pixels}")
        return bits[:pixels].reshape(num_images, -1)


@attrs.frozen
class ImageFormatBaseline:
    """An image format (through Pillow), one file per image."""

    name: str
    settings: str
    encode_image: Callable[[np.ndarray], bytes]
    decode_image: Callable[[bytes], np.ndarray]
    scope: str = PER_IMAGE

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        return [self.encode_image(row.reshape(shape)) for row in x]

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        if len(files) != num_images:
            raise ValueError(f"{self.name}: {len(files)} files for {num_images} images")
        out = np.empty((num_images, shape[0] * shape[1]), dtype=np.uint8)
        for i, data in enumerate(files):
            out[i] = self.decode_image(data).reshape(-1)
        return out


@attrs.frozen
class GridBaseline:
    """An image format on one image tiling all images, ``ceil(sqrt(n))`` to a row.

    A near-square grid keeps both sides within the formats' limits (WebP: 16383 pixels)
    for any set size; the empty cells of the last row are black and cost next to nothing.
    """

    name: str
    settings: str
    encode_image: Callable[[np.ndarray], bytes]
    decode_image: Callable[[bytes], np.ndarray]
    scope: str = GRID

    @staticmethod
    def _grid(num_images: int) -> tuple[int, int]:
        cols = math.isqrt(num_images - 1) + 1
        return -(-num_images // cols), cols

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        rows, cols = self._grid(x.shape[0])
        h, w = shape
        cells = np.zeros((rows * cols, h, w), dtype=np.uint8)
        cells[: x.shape[0]] = x.reshape(-1, h, w)
        grid = cells.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
        return [self.encode_image(grid)]

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        (data,) = files
        rows, cols = self._grid(num_images)
        h, w = shape
        grid = self.decode_image(data)
        if grid.shape != (rows * h, cols * w):
            raise ValueError(
                f"{self.name} decoded a {grid.shape} image, expected {(rows * h, cols * w)}"
            )
        cells = grid.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(rows * cols, h * w)
        return cells[:num_images]


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a declared dependency
        raise BitsbackError("the PNG and WebP baselines need Pillow: pip install Pillow") from None
    return Image


def _png_encode(img: np.ndarray) -> bytes:
    # A boolean array becomes a mode "1" image, which PNG stores at 1 bit per pixel.
    buffer = io.BytesIO()
    _pillow().fromarray(img.astype(bool)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _png_decode(data: bytes) -> np.ndarray:
    with _pillow().open(io.BytesIO(data)) as im:
        return (np.asarray(im.convert("L")) >= 128).astype(np.uint8)


def _webp_encode(img: np.ndarray) -> bytes:
    # WebP has no 1-bit mode: black and white in an 8-bit grayscale image. For lossless
    # WebP "quality" is the compression effort, so 100 is the smallest file.
    buffer = io.BytesIO()
    gray = _pillow().fromarray((img * 255).astype(np.uint8))
    gray.save(buffer, format="WEBP", lossless=True, method=6, quality=100)
    return buffer.getvalue()


def _webp_decode(data: bytes) -> np.ndarray:
    with _pillow().open(io.BytesIO(data)) as im:
        return (np.asarray(im.convert("L")) >= 128).astype(np.uint8)


#: The paper's comparison codecs at their strongest settings, in table order.
BASELINES: dict[str, Baseline] = {
    "gzip": StreamBaseline(
        "gzip", "level 9", lambda b: gzip.compress(b, compresslevel=9, mtime=0), gzip.decompress
    ),
    "bz2": StreamBaseline("bz2", "level 9", lambda b: bz2.compress(b, 9), bz2.decompress),
    "lzma": StreamBaseline(
        "lzma",
        "preset 9|extreme",
        lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
        lzma.decompress,
    ),
    "png": ImageFormatBaseline("PNG", "1-bit, optimize", _png_encode, _png_decode),
    "webp": ImageFormatBaseline("WebP", "lossless, m6 q100", _webp_encode, _webp_decode),
    "png-grid": GridBaseline("PNG", "1-bit, optimize", _png_encode, _png_decode),
    "webp-grid": GridBaseline("WebP", "lossless, m6 q100", _webp_encode, _webp_decode),
}


@attrs.frozen
class BaselineResult:
    """The size and speed of one baseline on a set of images, and whether it round-tripped."""

    codec: str
    scope: str
    settings: str
    num_images: int
    obs_dim: int
    num_files: int
    compressed_bytes: int
    encode_s: float
    decode_s: float
    lossless: bool

    @property
    def bpd(self) -> float:
        """Bits per pixel (the file bytes, headers included, times 8 over all pixels)."""
        return 8 * self.compressed_bytes / (self.num_images * self.obs_dim)

    @property
    def bits_per_image(self) -> float:
        return 8 * self.compressed_bytes / self.num_images

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["bpd"] = self.bpd
        out["bits_per_image"] = self.bits_per_image
        return out


def run_baseline(
    baseline: Baseline, x: np.ndarray, shape: tuple[int, int] | None = None
) -> BaselineResult:
    """Compress ``x`` with ``baseline``, decompress it again, and compare."""
    x = _check_images(x)
    num, obs_dim = x.shape
    shape = image_shape(obs_dim) if shape is None else shape
    if shape[0] * shape[1] != obs_dim:
        raise ValueError(f"image shape {shape} does not hold {obs_dim} pixels")
    started = time.perf_counter()
    files = baseline.compress(x, shape)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = baseline.decompress(files, num, shape)
    decode_s = time.perf_counter() - started
    return BaselineResult(
        codec=baseline.name,
        scope=baseline.scope,
        settings=baseline.settings,
        num_images=num,
        obs_dim=obs_dim,
        num_files=len(files),
        compressed_bytes=sum(len(f) for f in files),
        encode_s=encode_s,
        decode_s=decode_s,
        lossless=bool(np.array_equal(decoded, x)),
    )


def run_baselines(
    x: np.ndarray,
    names: Sequence[str] | None = None,
    shape: tuple[int, int] | None = None,
) -> list[BaselineResult]:
    """Run the named baselines (default: all of :data:`BASELINES`) on ``x``, in order."""
    chosen = list(BASELINES) if names is None else [n.lower() for n in names]
    unknown = [n for n in chosen if n not in BASELINES]
    if unknown:
        raise ValueError(
            f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}"
        )
    return [run_baseline(BASELINES[n], x, shape) for n in chosen]
