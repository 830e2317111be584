"""Files of mixed frame codecs: a frame is stored classically when that is shorter.

Real digits from the packaged EMNIST sample and the project's model ``mnist-elbo`` (by its
catalogue name). With 12 images per frame the model wins on dynamically binarized digits
(frames 0 and 2), while thresholded digits (frame 1) and a frame of one image (frame 3,
whose message is mostly initial bits) are shorter with a context coder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from bitsback_core.cli.main import main as cli_main
from bitsback_core.compression.container import CODEC_BITS_BACK, CompressedFile, ContainerError
from bitsback_core.compression.fallback import (
    CODEC_BACKOFF,
    CODEC_BZ2,
    CODEC_CONTEXT,
    best_fallback,
    encode_fallback,
)
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import files
from bitsback_core.pipeline.components import resolve_model_source
from bitsback_core.pipeline.files import (
    compress_to_file,
    decode_container,
    decompress_file,
    iter_decoded_frames,
)
from bitsback_core.registry import Registry
from bitsback_emnist.sample import load_sample

FRAME = 12


@pytest.fixture(autouse=True, scope="module")
def project_model() -> None:
    try:
        resolve_model_source(config())
    except ConfigError:
        pytest.skip("the project's model mnist-elbo is not installed")


def config(**values: Any) -> Config:
    return Config.from_mapping({"coder": "BitsBackCoder", "checkpoint": "mnist-elbo", **values})


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """37 bool ``(28, 28)`` digits: 0-11 and 24-36 dynamically binarized (seeded), 12-23
    thresholded at 128."""
    grey, _ = load_sample()
    grey = grey[:37]
    images = np.random.default_rng(7).random(grey.shape) < grey / 255
    images[FRAME : 2 * FRAME] = grey[FRAME : 2 * FRAME] >= 128
    return images


@pytest.fixture(scope="module")
def pair(
    registry: Registry, digits: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The digits written with ``fallback="auto"`` (verified, every codec) and ``"never"``."""
    folder = tmp_path_factory.mktemp("mixed")
    auto, never = folder / "auto.bbz", folder / "never.bbz"
    result = compress_to_file(config(), registry, digits, auto, frame_images=FRAME, jobs=1)
    assert result.verify_s is not None and result.frame_codecs == CompressedFile.read(auto).codecs
    compress_to_file(
        config(), registry, digits, never, frame_images=FRAME, jobs=1, fallback="never"
    )
    return auto, never


def test_each_frame_keeps_the_shorter_of_its_message_and_the_best_classical_code(
    digits: np.ndarray, pair: tuple[Path, Path]
) -> None:
    auto, never = (CompressedFile.read(path) for path in pair)
    assert never.codecs == (CODEC_BITS_BACK,) * 4
    assert auto.codecs == (CODEC_BITS_BACK, CODEC_BACKOFF, CODEC_BITS_BACK, CODEC_BACKOFF)
    assert auto.header == never.header
    for index, (codec, payload, message) in enumerate(
        zip(auto.codecs, auto.frames, never.frames, strict=True)
    ):
        best_id, classical = best_fallback(digits[auto.header.frame_slice(index)])
        if codec == CODEC_BITS_BACK:
            assert payload == message and len(message) <= len(classical)
        else:
            assert (codec, payload) == (best_id, classical) and len(classical) < len(message)
        assert len(payload) == min(len(message), len(classical))  # never above either code
    assert pair[0].stat().st_size < pair[1].stat().st_size


def test_mixed_frames_decode_alike_in_one_process_and_in_two(
    registry: Registry, digits: np.ndarray, pair: tuple[Path, Path]
) -> None:
    container = CompressedFile.read(pair[0])
    one = list(iter_decoded_frames(container, registry, jobs=1))
    two = list(iter_decoded_frames(container, registry, jobs=2))
    assert [i for i, _ in one] == [i for i, _ in two] == [0, 1, 2, 3]
    for (_, a), (_, b) in zip(one, two, strict=True):
        assert a.dtype == b.dtype == np.bool_ and a.shape[1:] == (28, 28)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.concatenate([x for _, x in one]), digits)


@pytest.mark.parametrize(("frames", "rows"), [(slice(1, 3), slice(12, 36)), (slice(1, 2), slice(12, 24)),
                                              (slice(-1, None), slice(36, 37)), (slice(2, 3), slice(24, 36))])  # fmt: skip
def test_a_frame_range_over_mixed_codecs(
    registry: Registry, digits: np.ndarray, pair: tuple[Path, Path], frames: slice, rows: slice
) -> None:
    decoded, _ = decompress_file(pair[0], registry, frames=frames, jobs=1)
    np.testing.assert_array_equal(decoded, digits[rows])


def _no_model(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a model was loaded for classical frames")


def test_classical_frames_need_no_model(
    registry: Registry,
    digits: np.ndarray,
    pair: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Selecting only classical frames loads no model; a file of classical frames alone
    decodes even when the model it names is not installed."""
    monkeypatch.setattr(files, "_decoder_session", _no_model)
    for frames in (slice(1, 2), slice(3, 4)):
        decoded, _ = decompress_file(pair[0], registry, frames=frames, jobs=1)
        np.testing.assert_array_equal(decoded, digits[frames.start * FRAME : frames.stop * FRAME])
    with pytest.raises(AssertionError, match="a model was loaded"):
        decompress_file(pair[0], registry, frames=slice(0, 2), jobs=1)
    monkeypatch.undo()

    out = tmp_path / "thresholded.bbz"
    result = compress_to_file(config(), registry, digits[FRAME:16], out, frame_images=2)
    assert set(result.frame_codecs) <= {CODEC_BZ2, CODEC_CONTEXT, CODEC_BACKOFF}
    container = CompressedFile.read(out)
    header = attrs.evolve(container.header, identity=b"\xab" * 16)  # no installed model has it
    unknown = CompressedFile(header=header, frames=container.frames, codecs=container.codecs)
    decoded, _ = decode_container(unknown, registry, jobs=1)
    np.testing.assert_array_equal(decoded, digits[FRAME:16])


def test_a_bz2_frame_decodes(
    registry: Registry, digits: np.ndarray, pair: tuple[Path, Path]
) -> None:
    """Codec 1 is rarely the shorter on digits; a file that stores a frame with it decodes."""
    container = CompressedFile.read(pair[0])
    frames = list(container.frames)
    codecs = list(container.codecs)
    frames[1], codecs[1] = encode_fallback(CODEC_BZ2, digits[FRAME : 2 * FRAME]), CODEC_BZ2
    resealed = CompressedFile(header=container.header, frames=tuple(frames), codecs=tuple(codecs))
    parsed = CompressedFile.from_bytes(resealed.to_bytes())
    assert parsed.codecs == (0, 1, 0, 3)
    decoded, _ = decode_container(parsed, registry, jobs=1)
    np.testing.assert_array_equal(decoded, digits)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda p, c: (p[: len(p) // 2], c), "backoff frame is truncated"),
        (lambda p, c: (p + b"\0\0\0", c), "bytes after its last image"),
        (lambda p, c: (p, CODEC_BZ2), "not a valid bz2 stream"),
        (lambda p, c: (encode_fallback(CODEC_BZ2, np.ones((12, 28, 28), np.uint8))[:-4], CODEC_BZ2), "truncated"),
    ],
)  # fmt: skip
def test_a_damaged_classical_frame_is_refused_in_one_line(
    registry: Registry, pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any,
    match: str,
) -> None:  # fmt: skip
    """Bytes that pass the checksum (re-sealed) but are not a valid classical code."""
    container = CompressedFile.read(pair[0])
    frames, codecs = list(container.frames), list(container.codecs)
    frames[1], codecs[1] = damage(frames[1], codecs[1])
    path = tmp_path / "bad.bbz"
    path.write_bytes(
        CompressedFile(
            header=container.header, frames=tuple(frames), codecs=tuple(codecs)
        ).to_bytes()
    )
    with pytest.raises(ContainerError, match=match) as info:
        decompress_file(path, registry, jobs=1)
    assert str(info.value).startswith(f"{path}, frame 1: ") and "\n" not in str(info.value)
    out = tmp_path / "bad.npy"
    assert cli_main(["decompress", str(path), "-o", str(out), "--jobs", "1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "frame 1" in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.bbz"]


def test_cli_fallback_option_and_info(
    digits: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "digits.npy", digits)
    common = ["--checkpoint", "mnist-elbo", "--coder", "BB-ELBO", "--frame-images", str(FRAME)]
    never, auto = tmp_path / "never.bbz", tmp_path / "auto.bbz"
    assert (
        cli_main(
            [
                "compress",
                str(tmp_path / "digits.npy"),
                "-o",
                str(never),
                "--fallback",
                "never",
                *common,
            ]
        )
        == 0
    )
    assert cli_main(["compress", str(tmp_path / "digits.npy"), "-o", str(auto), *common]) == 0
    assert CompressedFile.read(never).codecs == (0, 0, 0, 0)
    assert CompressedFile.read(auto).codecs == (0, 3, 0, 3)
    capsys.readouterr()
    assert cli_main(["info", str(auto)]) == 0
    assert "codecs:      bits-back, backoff, bits-back, backoff" in capsys.readouterr().out
    assert cli_main(["info", str(never), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frame_codecs"] == [0, 0, 0, 0]
    assert (
        cli_main(
            [
                "decompress",
                str(auto),
                "-o",
                str(tmp_path / "part.npy"),
                "--frames",
                "1:3",
                "-j",
                "1",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(np.load(tmp_path / "part.npy"), digits[FRAME : 3 * FRAME])
    capsys.readouterr()
    assert (
        cli_main(
            [
                "compress",
                str(tmp_path / "digits.npy"),
                "-o",
                str(tmp_path / "x.bbz"),
                "--fallback",
                "sometimes",
            ]
        )
        == 2
    )
    assert "--fallback" in capsys.readouterr().err and not (tmp_path / "x.bbz").exists()


def test_a_bad_fallback_value_is_refused_before_any_work(
    registry: Registry, digits: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="fallback must be one of auto, never, got 'always'"):
        compress_to_file(config(), registry, digits[:2], tmp_path / "x.bbz", fallback="always")
    assert list(tmp_path.iterdir()) == []
