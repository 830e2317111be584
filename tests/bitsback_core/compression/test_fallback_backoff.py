"""Fallback codecs 2 and 3 against a plain-Python reading of their definitions.

The references below are written from the descriptions in ``fallback.py``, ``_bilevel.py``
and docs/format.md (the templates as lists of offsets, the estimates, the halving limits,
the page layout, the range coder), in Python integers only, and know nothing of the
compiled loops' sliding row registers or codec 3's small-context table.
"""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.compression.fallback import (
    CODEC_BACKOFF,
    CODEC_CONTEXT,
    TEMPLATE,
    TEMPLATE_LARGE,
    TEMPLATE_SMALL,
    FallbackError,
    decode_fallback,
    encode_fallback,
    page_shape,
)

MASK32 = (1 << 32) - 1


def _p0(c0: int, c1: int, s0: int, s1: int) -> int:
    ps = ((s0 * 16 + 12) << 16) // ((s0 + s1) * 16 + 24)
    return min(max(((c0 << 16) + 32 * ps) // (c0 + c1 + 32), 1), (1 << 16) - 1)


class _RangeEncoder:
    """The LZMA-style range coder of ``_bilevel.py``, first byte dropped."""

    def __init__(self) -> None:
        self.low, self.rng, self.cache, self.cache_size = 0, MASK32, 0, 1
        self.out: list[int] = []

    def _shift_low(self) -> None:
        if self.low < 0xFF000000 or self.low > MASK32:
            carry, temp = self.low >> 32, self.cache
            while True:
                self.out.append((temp + carry) & 0xFF)
                temp = 0xFF
                self.cache_size -= 1
                if self.cache_size == 0:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.cache_size += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def code(self, bit: int, p0: int) -> None:
        bound = (self.rng * p0) >> 16
        if bit:
            self.low += bound
            self.rng -= bound
        else:
            self.rng = bound
        while self.rng < 1 << 24:
            self.rng = (self.rng << 8) & MASK32
            self._shift_low()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift_low()
        return bytes(self.out[1:])


def _halve(counts: dict[int, list[int]], ctx: int, bit: int, limit: int) -> None:
    c = counts.setdefault(ctx, [0, 0])
    c[bit] += 1
    if c[0] + c[1] > limit:
        c[0], c[1] = (c[0] + 1) >> 1, (c[1] + 1) >> 1


def reference_encode(images: np.ndarray) -> bytes:
    n = images.shape[0]
    rows, width = page_shape(images.shape[1:])
    page = images.reshape(n, rows, width).transpose(1, 0, 2).reshape(rows, n * width)

    def pixel(y: int, x: int) -> int:
        return int(page[y, x]) if 0 <= y and 0 <= x < n * width else 0

    def context(template: tuple[tuple[int, int], ...], y: int, x: int) -> int:
        return sum(pixel(y + dy, x + dx) << k for k, (dy, dx) in enumerate(template))

    large: dict[int, list[int]] = {}
    small: dict[int, list[int]] = {}
    coder = _RangeEncoder()
    for y in range(rows):
        for x in range(n * width):
            cl, cs = context(TEMPLATE_LARGE, y, x), context(TEMPLATE_SMALL, y, x)
            bit = int(page[y, x])
            coder.code(bit, _p0(*large.get(cl, [0, 0]), *small.get(cs, [0, 0])))
            _halve(large, cl, bit, 1000)
            _halve(small, cs, bit, 4000)
    return coder.finish()


def reference_encode_context(images: np.ndarray) -> bytes:
    """Codec 2: image by image, each a page padded with 0, one model for the frame."""
    rows, width = page_shape(images.shape[1:])
    counts: dict[int, list[int]] = {}
    coder = _RangeEncoder()
    for page in images.reshape(-1, rows, width):

        def pixel(y: int, x: int) -> int:
            return int(page[y, x]) if 0 <= y and 0 <= x < width else 0  # noqa: B023

        for y in range(rows):
            for x in range(width):
                ctx = sum(pixel(y + dy, x + dx) << k for k, (dy, dx) in enumerate(TEMPLATE))
                c0, c1 = counts.get(ctx, [0, 0])
                p0 = min(max(((c0 * 16 + 6) << 16) // ((c0 + c1) * 16 + 12), 1), (1 << 16) - 1)
                coder.code(int(page[y, x]), p0)
                _halve(counts, ctx, int(page[y, x]), 4000)
    return coder.finish()


def _images(n: int, shape: tuple[int, ...], density: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, *shape)) < density).astype(np.uint8)


def test_templates() -> None:
    assert set(TEMPLATE_LARGE) == {*TEMPLATE, (-2, -3), (-2, 3)} and len(TEMPLATE_LARGE) == 16
    assert set(TEMPLATE_SMALL) < set(TEMPLATE_LARGE) and len(TEMPLATE_SMALL) == 10


@pytest.mark.parametrize(
    "n, shape, density, seed",
    [(0, (3, 3), 0.5, 0), (1, (1,), 1.0, 1), (3, (5, 7), 0.3, 2), (2, (16,), 0.1, 3),
     (4, (2, 3, 4), 0.6, 4), (1, (2, 1), 0.5, 5)],
)  # fmt: skip
def test_compiled_coder_matches_the_reference(
    n: int, shape: tuple[int, ...], density: float, seed: int
) -> None:
    x = _images(n, shape, density, seed)
    assert encode_fallback(CODEC_BACKOFF, x) == reference_encode(x)


@pytest.mark.parametrize(
    "n, shape, density, seed",
    [(0, (3, 3), 0.5, 0), (1, (1,), 1.0, 1), (3, (5, 7), 0.3, 2), (4, (2, 3, 4), 0.6, 4)],
)
def test_codec_2_matches_its_reference(
    n: int, shape: tuple[int, ...], density: float, seed: int
) -> None:
    x = _images(n, shape, density, seed)
    assert encode_fallback(CODEC_CONTEXT, x) == reference_encode_context(x)


def test_halving_and_long_runs_match_the_reference() -> None:
    """Enough pixels for both halving limits and carries through runs of 0xFF bytes."""
    x = np.zeros((2, 60, 40), dtype=np.uint8)
    x[:, 10:50, 5:35] = _images(2, (40, 30), 0.9, 6)
    x[1, ::7] = 1
    assert encode_fallback(CODEC_BACKOFF, x) == reference_encode(x)
    assert encode_fallback(CODEC_CONTEXT, x) == reference_encode_context(x)


def test_pinned_encoding() -> None:
    """Codec 3's bytes for a small fixed input; a change here is a change of format."""
    x = np.zeros((2, 6, 6), dtype=np.uint8)
    x[0, 1:5, 2:4] = 1
    x[1, 2, :] = 1
    x[1, 4, 1::2] = 1
    data = encode_fallback(CODEC_BACKOFF, x)
    assert data == reference_encode(x)
    assert data.hex() == PINNED
    np.testing.assert_array_equal(decode_fallback(CODEC_BACKOFF, data, 2, (6, 6)), x)


PINNED = "1e21e3f7155299367e0000"


def test_images_side_by_side_share_borders() -> None:
    """Tiles cut from one picture cost less in order than shuffled (left neighbours)."""
    rng = np.random.default_rng(7)
    picture = np.zeros((28, 28 * 30), dtype=np.uint8)
    for _ in range(60):
        y, x, r = rng.integers(0, 28), rng.integers(0, 28 * 30), rng.integers(3, 12)
        yy, xx = np.mgrid[:28, : 28 * 30]
        picture |= ((yy - y) ** 2 + (xx - x) ** 2 < r * r).astype(np.uint8)
    tiles = picture.reshape(28, 30, 28).transpose(1, 0, 2)
    in_order = len(encode_fallback(CODEC_BACKOFF, tiles))
    shuffled = len(encode_fallback(CODEC_BACKOFF, tiles[rng.permutation(30)]))
    assert in_order < shuffled


def test_every_truncation_and_extension_is_refused() -> None:
    x = _images(3, (9, 9), 0.3, 8)
    data = encode_fallback(CODEC_BACKOFF, x)
    for cut in range(len(data)):
        with pytest.raises(FallbackError, match="backoff frame is (truncated|damaged)"):
            decode_fallback(CODEC_BACKOFF, data[:cut], 3, (9, 9))
    with pytest.raises(FallbackError, match="backoff frame has 1 bytes after"):
        decode_fallback(CODEC_BACKOFF, data + b"\x00", 3, (9, 9))
    with pytest.raises(FallbackError, match="backoff frame is damaged"):
        decode_fallback(CODEC_BACKOFF, b"\xff" * 4, 0, (9, 9))
