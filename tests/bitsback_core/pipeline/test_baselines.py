"""The generic-codec baselines: round trips, what is counted, and bad input."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError
from bitsback_core.pipeline import baselines as baselines_module
from bitsback_core.pipeline.baselines import (
    BASELINES,
    BILEVEL_BASELINES,
    GRID,
    PAGE,
    PER_IMAGE,
    WHOLE_SET,
    GridBaseline,
    JbigBaseline,
    StreamBaseline,
    _pbm,
    _read_pbm,
    image_shape,
    run_baseline,
    run_baselines,
    unavailable_baselines,
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
    "jbig": PAGE,
    "jbig-images": PER_IMAGE,
    "bz2-rows": WHOLE_SET,
    "context": WHOLE_SET,
    "backoff": WHOLE_SET,
}
HAVE_JBIG = not unavailable_baselines(["jbig"])
needs_jbig = pytest.mark.skipif(not HAVE_JBIG, reason="JBIG-KIT (pbmtojbg, jbgtopbm) absent")


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
    if name.startswith("jbig") and not HAVE_JBIG:
        pytest.skip("JBIG-KIT (pbmtojbg, jbgtopbm) absent")
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
    results = {r.codec + r.scope + r.settings: r for r in run_baselines(x)}
    assert len(results) == len(BASELINES) - len(unavailable_baselines())
    assert all(r.lossless for r in results.values())
    by_name = {r.codec + r.scope: r for r in results.values()}
    assert by_name["bz2" + WHOLE_SET].bpd < 1.0
    # One file per image pays a header per image: more than the same format on one grid.
    assert by_name["PNG" + PER_IMAGE].bpd > by_name["PNG" + GRID].bpd
    # A model of bilevel images beats every generic codec, even on 40 images.
    generic = [r.bpd for r in results.values() if r.codec in ("gzip", "bz2", "lzma", "PNG", "WebP")]
    assert by_name["context" + WHOLE_SET].bpd < min(generic)
    assert by_name["backoff" + WHOLE_SET].bpd < min(generic)
    if HAVE_JBIG:
        assert by_name["JBIG" + PAGE].bpd < by_name["JBIG" + PER_IMAGE].bpd


def test_bilevel_baselines_are_named() -> None:
    assert set(BILEVEL_BASELINES) <= set(BASELINES)
    assert {BASELINES[n].name for n in BILEVEL_BASELINES} == {"JBIG", "context", "backoff"}


def test_pbm_round_trip() -> None:
    img = _digits_like(1)[0].reshape(4, 196)[:, :13]
    np.testing.assert_array_equal(_read_pbm(_pbm(img)), img)
    assert _pbm(np.ones((1, 9), dtype=np.uint8)) == b"P4\n9 1\n\xff\x80"
    with pytest.raises(ValueError, match="raw PBM"):
        _read_pbm(b"P1\n1 1\n1")
    with pytest.raises(ValueError, match="bytes of pixels"):
        _read_pbm(b"P4\n9 2\n\xff")


@pytest.mark.parametrize(
    "num, grid", [(1, (1, 1)), (100, (1, 100)), (101, (2, 100)), (250, (3, 100))]
)
def test_jbig_tiles_100_to_a_row(num: int, grid: tuple[int, int]) -> None:
    assert JbigBaseline._grid(num) == grid


def test_jbig_is_reported_unavailable_without_its_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines_module.shutil, "which", lambda tool: None)
    reasons = unavailable_baselines()
    assert set(reasons) == {"jbig", "jbig-images"}
    assert "pbmtojbg and jbgtopbm not on PATH" in reasons["jbig"]
    assert "jbigkit-bin" in reasons["jbig"]
    names = [r.codec + r.scope for r in run_baselines(_digits_like(2), ["gzip", "jbig", "context"])]
    assert names == ["gzip" + WHOLE_SET, "context" + WHOLE_SET]
    with pytest.raises(BitsbackError, match="JBIG baseline is unavailable"):
        BASELINES["jbig"].compress(_digits_like(1), (28, 28))


@needs_jbig
def test_jbig_decode_check_catches_a_wrong_page() -> None:
    x = _digits_like(3)
    files = BASELINES["jbig"].compress(x, (28, 28))
    np.testing.assert_array_equal(BASELINES["jbig"].decompress(files, 3, (28, 28)), x)
    with pytest.raises(ValueError, match="page"):
        BASELINES["jbig"].decompress(files, 3, (14, 56))
    with pytest.raises(BitsbackError, match="jbgtopbm failed"):
        BASELINES["jbig"].decompress([files[0][:10]], 3, (28, 28))
