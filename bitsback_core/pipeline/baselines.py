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

Two more know what a bilevel image is, so they are the bar that matters for binary
images: JBIG (ITU T.82, JBIG-KIT's ``pbmtojbg -q``, sequential, its default template and
options) on one PBM page tiling the images 100 to a row, and also on one page per image;
and the file format's own fallback codecs (:mod:`bitsback_core.compression.fallback`), the
context-model coders (``context``, codec 2; ``backoff``, codec 3) and bz2 of packed rows
(``bz2-rows``), each on the whole set as one frame. The fair comparison with a whole-set code is JBIG on the tiled page:
per image, JBIG pays its 20-byte header and relearns its statistics every 784 pixels.
JBIG is optional: without ``pbmtojbg``/``jbgtopbm`` on PATH (Debian: ``jbigkit-bin``) its
rows are reported as unavailable, never a failure.

Every baseline is decoded again and compared with the input, so a number in the table is
the size of something that really round-trips.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np

from bitsback_core.compression.fallback import (
    CODEC_BACKOFF,
    CODEC_BZ2,
    CODEC_CONTEXT,
    FALLBACK_CODECS,
)
from bitsback_core.errors import BitsbackError

__all__ = [
    "BASELINES",
    "BILEVEL_BASELINES",
    "Baseline",
    "BaselineResult",
    "FallbackBaseline",
    "GridBaseline",
    "ImageFormatBaseline",
    "JbigBaseline",
    "StreamBaseline",
    "image_shape",
    "run_baseline",
    "run_baselines",
    "unavailable_baselines",
]

#: How a baseline sees the images (the table's "coded as" column).
WHOLE_SET = "set, 1 stream"
PER_IMAGE = "1 file/image"
GRID = "set, 1 grid image"
#: JBIG's page of tiled images: this many images to a row.
JBIG_TILES_PER_ROW = 100
PAGE = f"set, 1 page ({JBIG_TILES_PER_ROW}/row)"


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


@attrs.frozen
class FallbackBaseline:
    """A fallback frame codec of the file format on the whole set as one frame."""

    codec_id: int
    settings: str
    scope: str = WHOLE_SET

    @property
    def name(self) -> str:
        return FALLBACK_CODECS[self.codec_id].NAME

    def prepare(self) -> None:
        """Load the compiled loops before timing (numba's first call costs seconds)."""
        codec = FALLBACK_CODECS[self.codec_id]
        codec.decode(codec.encode(np.zeros((1, 2, 2), dtype=np.uint8)), 1, (2, 2))

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        return [FALLBACK_CODECS[self.codec_id].encode(x.reshape(-1, *shape))]

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        (data,) = files
        return (
            FALLBACK_CODECS[self.codec_id].decode(data, num_images, shape).reshape(num_images, -1)
        )


_PBM_HEADER = re.compile(rb"P4\s+(\d+)\s+(\d+)\s")


def _pbm(image: np.ndarray) -> bytes:
    """A raw PBM (P4) of a 0/1 image: 1 is black, rows padded to whole bytes."""
    h, w = image.shape
    return b"P4\n%d %d\n" % (w, h) + np.packbits(image, axis=-1).tobytes()


def _read_pbm(data: bytes) -> np.ndarray:
    match = _PBM_HEADER.match(data)
    if match is None:
        raise ValueError("jbgtopbm did not write a raw PBM (P4) image")
    w, h = int(match.group(1)), int(match.group(2))
    row_bytes = -(-w // 8)
    body = np.frombuffer(data, dtype=np.uint8, offset=match.end())
    if body.size != h * row_bytes:
        raise ValueError(f"jbgtopbm wrote {body.size} bytes of pixels, expected {h * row_bytes}")
    return np.unpackbits(body.reshape(h, row_bytes), axis=-1)[:, :w]


@attrs.frozen
class JbigBaseline:
    """JBIG (JBIG-KIT's command-line tools) on one tiled page, or on one page per image.

    The tools are run in a temporary folder with files (they take no pipes); the times
    therefore include writing PBM files and starting one process per page.
    """

    tiled: bool
    name: str = "JBIG"
    settings: str = "pbmtojbg -q"
    encoder: str = "pbmtojbg"
    decoder: str = "jbgtopbm"

    @property
    def scope(self) -> str:
        return PAGE if self.tiled else PER_IMAGE

    def unavailable(self) -> str | None:
        """Why this baseline cannot run here, or None."""
        missing = [tool for tool in (self.encoder, self.decoder) if shutil.which(tool) is None]
        if missing:
            return (
                f"{' and '.join(missing)} not on PATH (JBIG-KIT; Debian/Ubuntu: "
                "apt-get install jbigkit-bin)"
            )
        return None

    @staticmethod
    def _grid(num_images: int) -> tuple[int, int]:
        cols = min(num_images, JBIG_TILES_PER_ROW)
        return -(-num_images // cols), cols

    def _pages(self, x: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
        h, w = shape
        if not self.tiled:
            return list(x.reshape(-1, h, w))
        rows, cols = self._grid(x.shape[0])
        cells = np.zeros((rows * cols, h, w), dtype=np.uint8)
        cells[: x.shape[0]] = x.reshape(-1, h, w)
        return [cells.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)]

    def _run(self, tool: str, inputs: Sequence[bytes], suffix: str) -> list[bytes]:
        """``tool`` on each input, in a shell loop (forking this process per image is slow)."""
        reason = self.unavailable()
        if reason is not None:
            raise BitsbackError(f"the JBIG baseline is unavailable: {reason}")
        options = " ".join(self._options(tool))
        loop = f'for f in "$@"; do {tool} {options} "$f" "$f{suffix}" || exit 1; done'
        outputs = []
        with tempfile.TemporaryDirectory(prefix="bitsback-jbig-") as folder:
            names = [f"{i:06d}" for i in range(len(inputs))]
            for name, data in zip(names, inputs):
                (Path(folder) / name).write_bytes(data)
            for start in range(0, len(names), 1000):
                done = subprocess.run(
                    ["sh", "-c", loop, "sh", *names[start : start + 1000]],
                    cwd=folder,
                    capture_output=True,
                    check=False,
                )
                if done.returncode != 0:
                    lines = done.stderr.decode(errors="replace").strip().splitlines()
                    raise BitsbackError(f"{tool} failed: {lines[-1] if lines else done.returncode}")
            for name in names:
                outputs.append((Path(folder) / f"{name}{suffix}").read_bytes())
        return outputs

    def _options(self, tool: str) -> list[str]:
        return ["-q"] if tool == self.encoder else []

    def compress(self, x: np.ndarray, shape: tuple[int, int]) -> list[bytes]:
        return self._run(self.encoder, [_pbm(p) for p in self._pages(x, shape)], ".jbg")

    def decompress(
        self, files: Sequence[bytes], num_images: int, shape: tuple[int, int]
    ) -> np.ndarray:
        pages = [_read_pbm(p) for p in self._run(self.decoder, files, ".pbm")]
        h, w = shape
        if not self.tiled:
            if len(pages) != num_images or any(p.shape != shape for p in pages):
                raise ValueError(
                    f"JBIG decoded {len(pages)} pages, expected {num_images} of {shape}"
                )
            return np.stack(pages).reshape(num_images, h * w)
        rows, cols = self._grid(num_images)
        (page,) = pages
        if page.shape != (rows * h, cols * w):
            raise ValueError(f"JBIG decoded a {page.shape} page, expected {(rows * h, cols * w)}")
        cells = page.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(rows * cols, h * w)
        return cells[:num_images]


#: The paper's comparison codecs at their strongest settings, in table order, then the
#: bilevel codecs (JBIG and the file format's own fallback codecs).
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
    "jbig": JbigBaseline(tiled=True),
    "jbig-images": JbigBaseline(tiled=False),
    "bz2-rows": FallbackBaseline(CODEC_BZ2, "level 9, packed rows"),
    "context": FallbackBaseline(CODEC_CONTEXT, "14-pixel template"),
    "backoff": FallbackBaseline(CODEC_BACKOFF, "16+10-pixel templates"),
}
#: The baselines built for bilevel images (the generic ones know nothing of pixels).
BILEVEL_BASELINES = ("jbig", "jbig-images", "context", "backoff")


def _unavailable(baseline: Baseline) -> str | None:
    check = getattr(baseline, "unavailable", None)
    return None if check is None else check()


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
    prepare = getattr(baseline, "prepare", None)
    if prepare is not None:
        prepare()
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


def _chosen(names: Sequence[str] | None) -> list[str]:
    chosen = list(BASELINES) if names is None else [n.lower() for n in names]
    unknown = [n for n in chosen if n not in BASELINES]
    if unknown:
        raise ValueError(
            f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}"
        )
    return chosen


def unavailable_baselines(names: Sequence[str] | None = None) -> dict[str, str]:
    """The named baselines (default: all) that cannot run on this machine, with the reason."""
    reasons = {n: _unavailable(BASELINES[n]) for n in _chosen(names)}
    return {n: r for n, r in reasons.items() if r is not None}


def run_baselines(
    x: np.ndarray,
    names: Sequence[str] | None = None,
    shape: tuple[int, int] | None = None,
) -> list[BaselineResult]:
    """Run the named baselines (default: all of :data:`BASELINES`) on ``x``, in order.

    Baselines that need a missing tool (:func:`unavailable_baselines`) are left out.
    """
    chosen = _chosen(names)
    skipped = unavailable_baselines(chosen)
    return [run_baseline(BASELINES[n], x, shape) for n in chosen if n not in skipped]
