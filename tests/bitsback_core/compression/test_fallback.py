"""Fallback frame codecs: round trips, determinism, the choice of the best, and bad input."""

from __future__ import annotations

import bz2
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsback_core.compression.fallback import (
    CODEC_BACKOFF,
    CODEC_BZ2,
    CODEC_CONTEXT,
    FALLBACK_CODECS,
    FallbackError,
    best_fallback,
    decode_fallback,
    encode_fallback,
    fallback_codec,
    page_shape,
)
from bitsback_core.errors import BitsbackError

IDS = sorted(FALLBACK_CODECS)


def check_round_trip(codec_id: int, images: np.ndarray) -> bytes:
    """The one round-trip helper: code, decode, compare exactly (as uint8)."""
    data = encode_fallback(codec_id, images)
    assert isinstance(data, bytes)
    decoded = decode_fallback(codec_id, data, images.shape[0], images.shape[1:])
    assert decoded.dtype == np.uint8
    assert decoded.shape == images.shape
    np.testing.assert_array_equal(decoded, images.astype(np.uint8))
    return data


def _blobs(num: int, shape: Sequence[int] = (28, 28), seed: int = 0) -> np.ndarray:
    """Digit-like images: a noisy disc each, so a context model finds structure."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    out = np.empty((num, h, w), dtype=np.uint8)
    for i in range(num):
        cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, rng.uniform(0.15, 0.3) * h
        out[i] = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) ^ (rng.random((h, w)) < 0.02)
    return out


@settings(max_examples=60, deadline=None)
@given(
    codec_id=st.sampled_from(IDS),
    n=st.integers(0, 5),
    shape=st.lists(st.integers(1, 19), min_size=1, max_size=3),
    density=st.sampled_from([0.0, 0.01, 0.2, 0.5, 0.9, 1.0]),
    seed=st.integers(0, 2**32 - 1),
    as_bool=st.booleans(),
)
def test_round_trip_any_shape_and_density(
    codec_id: int, n: int, shape: list[int], density: float, seed: int, as_bool: bool
) -> None:
    x = np.random.default_rng(seed).random((n, *shape)) < density
    check_round_trip(codec_id, x if as_bool else x.astype(np.int64))


@pytest.mark.parametrize("codec_id", IDS)
@pytest.mark.parametrize("fill", [0, 1])
def test_constant_images(codec_id: int, fill: int) -> None:
    x = np.full((50, 28, 28), fill, dtype=np.uint8)
    data = check_round_trip(codec_id, x)
    # 39,200 identical pixels: both codecs learn that in a small fraction of a bit each.
    assert len(data) * 8 < 0.01 * x.size


@pytest.mark.parametrize("codec_id", IDS)
def test_single_image_and_flat_images(codec_id: int) -> None:
    x = _blobs(1)
    check_round_trip(codec_id, x)
    flat = _blobs(6).reshape(6, 784)
    assert encode_fallback(codec_id, flat) == encode_fallback(codec_id, flat.reshape(6, 28, 28))
    check_round_trip(codec_id, flat)


def test_page_shape() -> None:
    assert page_shape((28, 28)) == (28, 28)
    assert page_shape((784,)) == (28, 28)
    assert page_shape((12,)) == (1, 12)
    assert page_shape((2, 3, 5)) == (6, 5)


@pytest.mark.parametrize("codec_id", IDS)
def test_deterministic(codec_id: int) -> None:
    x = _blobs(20, seed=3)
    assert encode_fallback(codec_id, x) == encode_fallback(codec_id, x.copy().astype(bool))


def test_context_model_beats_bz2_on_structured_images() -> None:
    x = _blobs(200, seed=5)
    sizes = {i: len(check_round_trip(i, x)) for i in IDS}
    assert sizes[CODEC_CONTEXT] < 0.9 * sizes[CODEC_BZ2]
    assert sizes[CODEC_BACKOFF] < sizes[CODEC_CONTEXT]
    assert best_fallback(x) == (CODEC_BACKOFF, encode_fallback(CODEC_BACKOFF, x))
    assert best_fallback(x, [CODEC_BZ2, CODEC_CONTEXT]) == (
        CODEC_CONTEXT,
        encode_fallback(CODEC_CONTEXT, x),
    )


@pytest.mark.parametrize("codec_id", [CODEC_CONTEXT, CODEC_BACKOFF])
def test_context_model_learns_across_images(codec_id: int) -> None:
    """The statistics are shared by a frame's images: the 200th image costs less than the 1st."""
    x = _blobs(200, seed=7)
    one = len(encode_fallback(codec_id, x[:1]))
    assert len(encode_fallback(codec_id, x)) < 200 * one * 0.8


def test_bz2_codec_is_packed_rows() -> None:
    x = _blobs(3, shape=(5, 11))
    raw = bz2.decompress(encode_fallback(CODEC_BZ2, x))
    assert raw == np.packbits(x, axis=-1).tobytes()
    assert len(raw) == 3 * 5 * 2


def test_best_fallback_picks_the_smallest() -> None:
    x = _blobs(30, seed=1)
    codec_id, data = best_fallback(x)
    assert len(data) == min(len(encode_fallback(i, x)) for i in IDS)
    np.testing.assert_array_equal(decode_fallback(codec_id, data, 30, (28, 28)), x)
    assert best_fallback(x, [CODEC_BZ2]) == (CODEC_BZ2, encode_fallback(CODEC_BZ2, x))
    with pytest.raises(FallbackError, match="at least one"):
        best_fallback(x, [])


@pytest.mark.parametrize(
    "images, match",
    [
        (np.full((2, 4, 4), 2, dtype=np.uint8), "0 or 1"),
        (np.full((2, 4, 4), -1, dtype=np.int8), "0 or 1"),
        (np.zeros((2, 4, 4), dtype=np.float32), "dtype float32"),
        (np.zeros(5, dtype=np.uint8), r"shape \(n, \*shape\)"),
        (np.zeros((2, 0, 4), dtype=np.uint8), "sides >= 1"),
    ],
)
@pytest.mark.parametrize("codec_id", IDS)
def test_bad_images_are_refused(codec_id: int, images: np.ndarray, match: str) -> None:
    with pytest.raises(FallbackError, match=match):
        encode_fallback(codec_id, images)


def test_unknown_codec() -> None:
    with pytest.raises(FallbackError, match=r"unknown fallback codec 0; known: 1 \(bz2\), 2"):
        fallback_codec(0)
    assert isinstance(FallbackError("x"), BitsbackError) and isinstance(
        FallbackError("x"), ValueError
    )


@pytest.mark.parametrize("codec_id", IDS)
def test_every_truncation_is_refused(codec_id: int) -> None:
    x = _blobs(4, seed=2)
    data = encode_fallback(codec_id, x)
    for cut in range(len(data)):
        with pytest.raises(FallbackError, match="truncated|not a valid|damaged|expected"):
            decode_fallback(codec_id, data[:cut], 4, (28, 28))


@pytest.mark.parametrize("codec_id", IDS)
def test_trailing_bytes_and_wrong_sizes_are_refused(codec_id: int) -> None:
    x = _blobs(4, seed=4)
    data = encode_fallback(codec_id, x)
    with pytest.raises(FallbackError, match="after"):
        decode_fallback(codec_id, data + b"\x00", 4, (28, 28))
    with pytest.raises(FallbackError):  # more images than were coded: the stream runs out
        decode_fallback(codec_id, data, 5, (28, 28))
    with pytest.raises(FallbackError, match="sides >= 1"):
        decode_fallback(codec_id, data, 4, (28, 0))


def test_bz2_refuses_garbage_and_padding_bits() -> None:
    with pytest.raises(FallbackError, match="not a valid bz2"):
        decode_fallback(CODEC_BZ2, b"not bz2 at all", 1, (4, 4))
    padded = bz2.compress(bytes([0xFF]) * 4)  # 4 rows of 4 pixels with the pad bits set
    with pytest.raises(FallbackError, match="padding"):
        decode_fallback(CODEC_BZ2, padded, 1, (4, 4))
    with pytest.raises(FallbackError, match="more than"):
        decode_fallback(CODEC_BZ2, bz2.compress(bytes(9)), 1, (4, 4))


@pytest.mark.parametrize("codec_id", [CODEC_CONTEXT, CODEC_BACKOFF])
def test_context_decoder_never_crashes_on_damage(codec_id: int) -> None:
    """Flipped bytes decode to something or fail with one FallbackError; never a crash."""
    x = _blobs(3, seed=6)
    data = bytearray(encode_fallback(codec_id, x))
    rng = np.random.default_rng(0)
    for _ in range(50):
        damaged = bytearray(data)
        damaged[int(rng.integers(len(damaged)))] ^= 1 << int(rng.integers(8))
        try:
            decode_fallback(codec_id, bytes(damaged), 3, (28, 28))
        except FallbackError:
            pass


@pytest.mark.parametrize("codec_id", [CODEC_CONTEXT, CODEC_BACKOFF])
def test_interpreted_loops_write_the_same_bytes(codec_id: int) -> None:
    """The integer loops give the same bytes compiled or run by Python (NUMBA_DISABLE_JIT=1)."""
    import os
    import subprocess
    import sys

    x = _blobs(3, shape=(9, 13), seed=8)
    script = (
        "import sys, numpy as np\n"
        "from bitsback_core.compression.fallback import encode_fallback, decode_fallback\n"
        "x = np.frombuffer(bytes.fromhex(sys.argv[1]), dtype=np.uint8).reshape(3, 9, 13)\n"
        f"data = encode_fallback({codec_id}, x)\n"
        f"assert (decode_fallback({codec_id}, data, 3, (9, 13)) == x).all()\n"
        "print(data.hex())\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, x.tobytes().hex()],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert bytes.fromhex(done.stdout.strip()) == encode_fallback(codec_id, x)
