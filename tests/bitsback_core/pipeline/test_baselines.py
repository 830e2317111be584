"""The generic-codec baselines: round trips, what is counted, and bad input."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.config import Config
from bitsback_core.pipeline.baselines import (
    BASELINES,
    GRID,
    PER_IMAGE,
    WHOLE_SET,
    GridBaseline,
    StreamBaseline,
    image_shape,
    run_baseline,
    run_baselines,
)
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]
SCOPES = {
    "gzip": WHOLE_SET,
    "bz2": WHOLE_SET,
    "lzma": WHOLE_SET,
    "png": PER_IMAGE,
    "webp": PER_IMAGE,
}


def _digits_like(num: int, seed: int = 0) -> np.ndarray:
    """Blobby binary 28x28 images: a noisy disc per image, so the codecs find structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    out = np.empty((num, 784), dtype=np.uint8)
    for i in range(num):
        cy, cx, r = rng.uniform(9, 19), rng.uniform(9, 19), rng.uniform(4, 8)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        out[i] = (disc ^ (rng.random((28, 28)) < 0.05)).reshape(-1)
    return out


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_round_trips(name: str) -> None:
    x = _digits_like(7)
    result = run_baseline(BASELINES[name], x)
    assert result.lossless is True
    assert (result.num_images, result.obs_dim) == (7, 784)
    assert result.compressed_bytes > 0
    assert result.bpd == pytest.approx(8 * result.compressed_bytes / (7 * 784))
    assert result.bits_per_image == pytest.approx(result.bpd * 784)
    assert result.encode_s >= 0 and result.decode_s >= 0
    expected_files = 7 if result.scope == PER_IMAGE else 1
    assert result.num_files == expected_files
    assert result.scope == SCOPES.get(name, GRID)
    assert set(result.as_dict()) >= {"codec", "scope", "bpd", "bits_per_image", "lossless"}


def test_stream_codecs_see_packed_bits() -> None:
    """Random bits cannot be compressed: a packed stream costs about 1 bit per pixel, not 8."""
    x = (np.random.default_rng(1).random((50, 784)) < 0.5).astype(np.uint8)
    for result in run_baselines(x, ["gzip", "bz2", "lzma"]):
        assert 0.99 < result.bpd < 1.25, result
    blank = np.zeros((50, 784), dtype=np.uint8)
    for result in run_baselines(blank, ["gzip", "bz2", "lzma"]):
        assert result.bpd < 0.05 and result.lossless


def test_a_wrong_decoder_is_caught() -> None:
    def flip_first_byte(data: bytes) -> bytes:
        raw = bytearray(gzip.decompress(data))
        raw[0] ^= 0x80
        return bytes(raw)

    broken = StreamBaseline("gzip", "broken", gzip.compress, flip_first_byte)
    assert run_baseline(broken, _digits_like(3)).lossless is False


@pytest.mark.parametrize("num, grid", [(1, (1, 1)), (5, (2, 3)), (9, (3, 3)), (10, (3, 4))])
def test_grid_shape_is_near_square(num: int, grid: tuple[int, int]) -> None:
    assert GridBaseline._grid(num) == grid
    png_grid = BASELINES["png-grid"]
    result = run_baseline(png_grid, _digits_like(num))
    assert result.lossless and result.num_files == 1


def test_image_shape() -> None:
    assert image_shape(784) == (28, 28)
    assert image_shape(1) == (1, 1)
    with pytest.raises(ValueError, match="not square"):
        image_shape(12)


def test_non_square_images_need_an_explicit_shape() -> None:
    x = _digits_like(4)[:, :12]
    with pytest.raises(ValueError, match="not square"):
        run_baseline(BASELINES["png"], x)
    result = run_baseline(BASELINES["png"], x, shape=(3, 4))
    assert result.lossless and result.obs_dim == 12
    with pytest.raises(ValueError, match="does not hold 12 pixels"):
        run_baseline(BASELINES["png"], x, shape=(4, 4))


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        run_baselines(np.full((2, 784), 2, dtype=np.uint8), ["gzip"])
    with pytest.raises(ValueError, match="shape"):
        run_baselines(np.zeros((28, 28, 2), dtype=np.uint8), ["gzip"])
    with pytest.raises(ValueError, match="unknown baseline.*choose from gzip"):
        run_baselines(_digits_like(2), ["gzip", "jpeg"])


def test_names_are_case_insensitive_and_keep_order() -> None:
    results = run_baselines(_digits_like(2), ["LZMA", "gzip"])
    assert [r.codec for r in results] == ["lzma", "gzip"]


def test_on_the_seeded_test_images(
    make_config: MakeConfig, registry: Registry, shared: Path
) -> None:
    """The same images the coders see; everything round-trips and beats 1 bit per pixel."""
    x = load_images(make_config(num_compress=40), registry)
    results = {r.codec + r.scope: r for r in run_baselines(x)}
    assert len(results) == len(BASELINES)
    assert all(r.lossless for r in results.values())
    assert results["bz2" + WHOLE_SET].bpd < 1.0
    # One file per image pays a header per image: more than the same format on one grid.
    assert results["PNG" + PER_IMAGE].bpd > results["PNG" + GRID].bpd
