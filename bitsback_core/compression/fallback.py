"""Classical codecs a frame falls back to when the bits-back code would be longer.

Why: a bits-back file is only as good as its model. On images unlike the training set
(thresholded scans, other shapes) a learned model can lose to a 1993 standard, so each
frame of a file may instead be stored with a codec that needs no model; the file writer
codes a frame both ways and keeps the shorter (``best_fallback`` gives the classical
side). The codec ids are the frame's codec byte in the ``.bbz`` container (0 is the
bits-back message):

* ``1`` (``bz2``): bz2 at level 9 of the images packed eight pixels to a byte, row by row
  (each image row starts on a byte, zero bits pad it), so identical rows are identical
  bytes for bz2's block sort;
* ``2`` (``context``): our context-model bilevel coder in the spirit of JBIG. Each pixel
  is coded with an adaptive binary probability conditioned on 14 already-coded
  neighbours (:data:`TEMPLATE`: two rows above and the current row, out-of-image pixels
  0), estimated from counts in integer arithmetic, and coded with a range coder written
  in integers (``_bilevel.py``), so every machine decodes the same bytes. The model's
  statistics are shared by the frame's images, in order.
* ``3`` (``backoff``): the same range coder with a stronger model, for frames unlike
  digits and short frames (docs/performance.md, "Fallback codec 3"). Each pixel's
  probability is the counts of its 16-pixel context (:data:`TEMPLATE_LARGE`) plus 32
  pseudo-counts spread as the estimate of its 10-pixel context (:data:`TEMPLATE_SMALL`,
  JBIG's three-line template), so a context seen rarely borrows from the small model that
  has learned faster; the large model halves its counts sooner (1,000) and so follows a
  drifting source. The frame's ``n`` pages ``(rows, width)`` are placed side by side as one
  page ``(rows, n * width)`` and coded in raster order: a tile's left neighbour is the
  previous image (tiles cut from one picture continue across their borders), and
  the rows of all images are coded together (digits' statistics depend on the row).

A codec sees images of shape ``(n, *shape)``. Codecs 2 and 3 code them as 2-D pages (see
:func:`page_shape`): the last axis is a row; a flat image whose size is a square number
(784 for 28 x 28 digits, the shape the datasets hand over) is coded as a square, since
otherwise its vertical neighbours would be 28 pixels away, outside every template.

Both decoders check everything they can (lengths, padding bits, the coder's final state,
trailing bytes) and raise :class:`FallbackError` with one line; the container's CRC is
what finds damage in the middle of a stream.
"""

from __future__ import annotations

import abc
import bz2
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from bitsback_core.compression import _bilevel
from bitsback_core.errors import BitsbackError

__all__ = [
    "CODEC_BACKOFF",
    "CODEC_BZ2",
    "CODEC_CONTEXT",
    "FALLBACK_CODECS",
    "TEMPLATE",
    "TEMPLATE_LARGE",
    "TEMPLATE_SMALL",
    "BackoffCodec",
    "Bz2Codec",
    "ContextCodec",
    "FallbackCodec",
    "FallbackError",
    "best_fallback",
    "decode_fallback",
    "encode_fallback",
    "fallback_codec",
    "page_shape",
]

CODEC_BZ2 = 1
CODEC_CONTEXT = 2
CODEC_BACKOFF = 3

#: Codec 2's template, bit ``k`` of the context is the pixel at ``(dy, dx)`` from the one
#: being coded: five of the row two up, five of the row above, three to the left on the
#: current row and one more to the upper right. Measured on the 10,000 EMNIST ``mnist``
#: test images (docs/performance.md): 14 pixels beat 10 (JBIG's count) by 2-4% and 16 or
#: 18 by nothing that lasts over both binarizations, and fewer contexts learn faster on
#: short frames. Changing it changes the format (and the compiled loop, which slides these
#: pixels along the row in three registers).
TEMPLATE: tuple[tuple[int, int], ...] = (
    (-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
    (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
    (0, -3), (0, -2), (0, -1),
    (-1, 3),
)  # fmt: skip


#: Codec 3's large template, bit ``k`` of its context is pixel ``k``: the row two up from
#: 3 right to 3 left, the row above from 3 right to 2 left, the current row from 1 to 3
#: left (codec 2's 14 pixels and two more of the row two up, in the order its compiled loop
#: slides them in). Changing it, or its order, changes the format.
TEMPLATE_LARGE: tuple[tuple[int, int], ...] = (
    *((-2, 3 - k) for k in range(7)),
    *((-1, 3 - k) for k in range(6)),
    *((0, -1 - k) for k in range(3)),
)
#: Codec 3's small template, JBIG's three-line one (a subset of the large one): three
#: pixels of the row two up, five of the row above, two to the left; bit ``k`` of the small
#: context is pixel ``k``. Changing it changes the format.
TEMPLATE_SMALL: tuple[tuple[int, int], ...] = (
    (-2, -1), (-2, 0), (-2, 1),
    (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
    (0, -2), (0, -1),
)  # fmt: skip


class FallbackError(BitsbackError, ValueError):
    """Images a fallback codec cannot code, or bytes it cannot decode."""


def page_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The ``(rows, width)`` page codec 2 codes one image of ``shape`` as.

    ``(h, w)`` and higher: the last axis is a row and the others stack rows. ``(L,)``:
    a square ``(s, s)`` if ``L = s * s`` (flattened images), else one row.
    """
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        return (side, side) if side * side == shape[0] else (1, shape[0])
    return math.prod(shape[:-1]), shape[-1]


def _check_shape(n: int, shape: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    shape = tuple(int(s) for s in shape)
    if int(n) < 0 or not shape or any(s < 1 for s in shape):
        raise FallbackError(
            f"a fallback codec needs n >= 0 images of a shape with sides >= 1, "
            f"got n={n}, shape {shape}"
        )
    return int(n), shape


def _check_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype != np.bool_ and not np.issubdtype(x.dtype, np.integer):
        raise FallbackError(f"fallback codecs code binary images, got dtype {x.dtype}")
    if x.ndim < 2:
        raise FallbackError(f"expected images of shape (n, *shape), got shape {x.shape}")
    _check_shape(x.shape[0], x.shape[1:])
    if x.dtype != np.bool_ and x.size and (x.min() < 0 or x.max() > 1):
        raise FallbackError("fallback codecs code binary images: every pixel must be 0 or 1")
    return np.ascontiguousarray(x, dtype=np.uint8)


class FallbackCodec(abc.ABC):
    """A model-free codec for a frame of binary images.

    A new codec needs an id the container knows and the two methods::

        class Raw(FallbackCodec):
            CODEC_ID = 9
            NAME = "raw"

            def encode(self, images):
                return np.packbits(self.check(images)).tobytes()

            def decode(self, data, n, shape):
                ...

    ``decode(encode(x), *x.shape[:1], x.shape[1:])`` must give ``x`` as uint8.
    """

    CODEC_ID: ClassVar[int]
    NAME: ClassVar[str]

    @staticmethod
    def check(images: np.ndarray) -> np.ndarray:
        """``images`` as contiguous uint8 0/1 of shape ``(n, *shape)``, or FallbackError."""
        return _check_images(images)

    @abc.abstractmethod
    def encode(self, images: np.ndarray) -> bytes:
        """The bytes of ``images`` (bool or integer 0/1, shape ``(n, *shape)``)."""

    @abc.abstractmethod
    def decode(self, data: bytes, n: int, shape: Sequence[int]) -> np.ndarray:
        """The uint8 images of shape ``(n, *shape)`` coded in ``data``."""


class Bz2Codec(FallbackCodec):
    """Codec 1: bz2 (level 9) of the images packed eight pixels to a byte, row by row."""

    CODEC_ID = CODEC_BZ2
    NAME = "bz2"

    def encode(self, images: np.ndarray) -> bytes:
        x = self.check(images)
        rows, width = page_shape(x.shape[1:])
        packed = np.packbits(x.reshape(x.shape[0], rows, width), axis=-1)
        return bz2.compress(packed.tobytes(), 9)

    def decode(self, data: bytes, n: int, shape: Sequence[int]) -> np.ndarray:
        n, shape = _check_shape(n, shape)
        rows, width = page_shape(shape)
        row_bytes = -(-width // 8)
        expected = n * rows * row_bytes
        decompressor = bz2.BZ2Decompressor()
        try:
            raw = decompressor.decompress(bytes(data), max_length=expected + 1)
        except (OSError, ValueError, EOFError) as error:
            raise FallbackError(f"bz2 frame is not a valid bz2 stream ({error})") from None
        if not decompressor.eof:
            if len(raw) > expected:
                raise FallbackError(f"bz2 frame holds more than the {expected} bytes expected")
            raise FallbackError("bz2 frame is truncated: the stream ends early")
        if decompressor.unused_data:
            raise FallbackError(
                f"bz2 frame has {len(decompressor.unused_data)} bytes after its stream"
            )
        if len(raw) != expected:
            raise FallbackError(f"bz2 frame holds {len(raw)} bytes, expected {expected}")
        packed = np.frombuffer(raw, dtype=np.uint8).reshape(n, rows, row_bytes)
        bits = np.unpackbits(packed, axis=-1)
        if bits[..., width:].any():
            raise FallbackError("bz2 frame has pixels set in its row padding")
        return np.ascontiguousarray(bits[..., :width]).reshape(n, *shape)


def _coder_capacities(pixels: int) -> tuple[int, int]:
    """Output buffers to try: digits cost under 0.3 bits per pixel; a bad model can cost
    at most about 17 bits per pixel (probabilities are at least 2^-16), so the second
    always fits."""
    return pixels // 4 + 1024, 3 * pixels + 1024


def _into_buffer(encode: Callable[[np.ndarray], int], pixels: int, name: str) -> bytes:
    """The bytes ``encode(out)`` writes (it returns their count, or a negative number when
    ``out`` is too small), trying the buffers of :func:`_coder_capacities` in turn."""
    for capacity in _coder_capacities(pixels):
        out = np.empty(capacity, dtype=np.uint8)
        size = int(encode(out))
        if size >= 0:
            return out[:size].tobytes()
    raise AssertionError(f"the {name} coder overflowed its worst-case buffer")  # pragma: no cover


def _check_read(name: str, read: int, size: int) -> None:
    """FallbackError unless a range decoder read exactly the ``size`` bytes it was given."""
    if read == _bilevel.ERR_TRUNCATED:
        raise FallbackError(f"{name} frame is truncated: {size} bytes end early")
    if read == _bilevel.ERR_CORRUPT:
        raise FallbackError(f"{name} frame is damaged: the coder ends in an invalid state")
    if read != size:
        raise FallbackError(f"{name} frame has {size - read} bytes after its last image")


class ContextCodec(FallbackCodec):
    """Codec 2: adaptive context-model bilevel arithmetic coding (JBIG's idea, our code)."""

    CODEC_ID = CODEC_CONTEXT
    NAME = "context"

    def encode(self, images: np.ndarray) -> bytes:
        x = self.check(images)
        pages = x.reshape(x.shape[0], *page_shape(x.shape[1:]))
        return _into_buffer(lambda out: _bilevel.encode_images(pages, out), x.size, self.NAME)

    def decode(self, data: bytes, n: int, shape: Sequence[int]) -> np.ndarray:
        n, shape = _check_shape(n, shape)
        rows, width = page_shape(shape)
        out = np.empty((n, rows, width), dtype=np.uint8)
        buffer = np.frombuffer(bytes(data), dtype=np.uint8)
        read = int(_bilevel.decode_images(buffer, out))
        _check_read(self.NAME, read, len(buffer))
        return out.reshape(n, *shape)


def _small_of_large() -> np.ndarray:
    """``small[ctx]``: codec 3's small context inside each 16-bit large context ``ctx``."""
    large = np.arange(1 << len(TEMPLATE_LARGE), dtype=np.int64)
    small = np.zeros_like(large)
    for k, pixel in enumerate(TEMPLATE_SMALL):
        small |= ((large >> TEMPLATE_LARGE.index(pixel)) & 1) << k
    return small


_SMALL_OF_LARGE = _small_of_large()


class BackoffCodec(FallbackCodec):
    """Codec 3: two-template back-off context model over the frame's images side by side."""

    CODEC_ID = CODEC_BACKOFF
    NAME = "backoff"

    @staticmethod
    def _pad(n: int, rows: int, width: int) -> np.ndarray:
        top, left = _bilevel.BACKOFF_TOP, _bilevel.BACKOFF_LEFT
        return np.zeros((top + rows, n * width + 2 * left), dtype=np.uint8)

    def encode(self, images: np.ndarray) -> bytes:
        x = self.check(images)
        n = x.shape[0]
        rows, width = page_shape(x.shape[1:])
        top, left = _bilevel.BACKOFF_TOP, _bilevel.BACKOFF_LEFT
        pad = self._pad(n, rows, width)
        pad[top:, left : left + n * width] = (
            x.reshape(n, rows, width).transpose(1, 0, 2).reshape(rows, n * width)
        )
        return _into_buffer(
            lambda out: _bilevel.encode_page_backoff(pad, _SMALL_OF_LARGE, out), x.size, self.NAME
        )

    def decode(self, data: bytes, n: int, shape: Sequence[int]) -> np.ndarray:
        n, shape = _check_shape(n, shape)
        rows, width = page_shape(shape)
        top, left = _bilevel.BACKOFF_TOP, _bilevel.BACKOFF_LEFT
        pad = self._pad(n, rows, width)
        buffer = np.frombuffer(bytes(data), dtype=np.uint8)
        read = int(_bilevel.decode_page_backoff(buffer, pad, _SMALL_OF_LARGE))
        _check_read(self.NAME, read, len(buffer))
        page = pad[top:, left : left + n * width].reshape(rows, n, width)
        return np.ascontiguousarray(page.transpose(1, 0, 2)).reshape(n, *shape)


#: Every fallback codec by its frame codec id.
FALLBACK_CODECS: dict[int, FallbackCodec] = {
    CODEC_BZ2: Bz2Codec(),
    CODEC_CONTEXT: ContextCodec(),
    CODEC_BACKOFF: BackoffCodec(),
}


def fallback_codec(codec_id: int) -> FallbackCodec:
    """The codec with this frame codec id, or FallbackError naming the known ones."""
    try:
        return FALLBACK_CODECS[codec_id]
    except (KeyError, TypeError):
        known = ", ".join(f"{i} ({c.NAME})" for i, c in FALLBACK_CODECS.items())
        raise FallbackError(f"unknown fallback codec {codec_id!r}; known: {known}") from None


def encode_fallback(codec_id: int, images: np.ndarray) -> bytes:
    """``images`` coded with the fallback codec ``codec_id``."""
    return fallback_codec(codec_id).encode(images)


def decode_fallback(codec_id: int, data: bytes, n: int, shape: Sequence[int]) -> np.ndarray:
    """The ``(n, *shape)`` uint8 images that ``codec_id`` coded as ``data``."""
    return fallback_codec(codec_id).decode(data, n, shape)


def best_fallback(images: np.ndarray, codec_ids: Sequence[int] | None = None) -> tuple[int, bytes]:
    """``(codec_id, bytes)`` of the shortest fallback code (ties: the lower id).

    Every codec is tried; they are cheap next to a bits-back code (codecs 2 and 3 each code
    over 5,000 digits per second).
    """
    x = _check_images(images)
    ids = sorted(FALLBACK_CODECS) if codec_ids is None else list(codec_ids)
    if not ids:
        raise FallbackError("best_fallback needs at least one codec")
    coded = [(len(data), i, data) for i in ids for data in [encode_fallback(i, x)]]
    _, best_id, best = min(coded, key=lambda c: (c[0], c[1]))
    return best_id, best
