"""``compress_to_file`` / ``decompress_file``: images to a ``.bbz`` file (format 2) and back.

These tests use the project's own checkpoints (``checkpoints/``) and synthetic binary
images, so they run without the shared data; BitsBackCoder keeps them quick. Files of a
few images would store every frame with a classical codec (their messages are mostly
initial bits), so tests of the bits-back path write them with ``fallback="never"``; the
classical frames are tested in ``test_fallback_frames.py``.
"""

from __future__ import annotations

import shutil
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from bitsback_core.ans import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.compression import encode_dataset
from bitsback_core.compression.container import CompressedFile, ContainerError, Header, frame_seed
from bitsback_core.config import Config
from bitsback_core.distributions import Uniform
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import files
from bitsback_core.pipeline.components import (
    build_coder,
    build_components,
    default_checkpoint_dir,
    file_sha256,
)
from bitsback_core.pipeline.files import (
    CompressResult,
    VerificationError,
    as_binary_images,
    compress_to_file,
    decompress_file,
)
from bitsback_core.registry import Registry

PROJECT_MODEL = default_checkpoint_dir() / "bin_emnist_split=mnist_elbo"
OTHER_MODEL = default_checkpoint_dir() / "bin_emnist_split=mnist_iwae5"


@pytest.fixture(autouse=True)
def project_models() -> None:
    if not (PROJECT_MODEL / "model.pt").is_file() or not (OTHER_MODEL / "model.pt").is_file():
        pytest.skip("the project's checkpoints/ are absent")


def project_config(**values: Any) -> Config:
    """BB-ELBO over the project's default model (no train_config: checkpoints/...mnist_elbo)."""
    return Config.from_mapping({"coder": "BitsBackCoder", **values})


def synthetic_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` binary ``(28, 28)`` uint8 images: sparse noise over a few strokes."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28)) < 0.05
    for i in range(n):
        row, col = rng.integers(6, 22, size=2)
        x[i, row - 5 : row + 5, col - 1 : col + 2] = True
    return x.astype(np.uint8)


@pytest.fixture
def images() -> np.ndarray:
    """Five images, shaped like a user's ``(n, 28, 28)`` array."""
    return synthetic_images(5)


def raw_file(header: Header, frames: tuple[bytes, ...]) -> bytes:
    """A file with a valid header CRC and frame CRCs around any header values (no validation)."""
    return CompressedFile(header=header, frames=frames).to_bytes(check=False)


def rewrite(path: Path, frames: tuple[bytes, ...] | None = None, **changes: Any) -> None:
    """Re-pack ``path`` with header fields changed and/or other frames, all checksums valid."""
    container = CompressedFile.read(path)
    header = attrs.evolve(container.header, **changes)
    path.write_bytes(raw_file(header, container.frames if frames is None else frames))


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64])
@pytest.mark.parametrize("flat", [False, True])
def test_round_trip_keeps_dtype_and_shape(
    registry: Registry, tmp_path: Path, dtype: type, flat: bool
) -> None:
    x = synthetic_images(3, seed=1).astype(dtype)
    if flat:
        x = x.reshape(3, 784)
    out = tmp_path / "x.bbz"
    result = compress_to_file(project_config(), registry, x, out)
    assert isinstance(result, CompressResult) and result.verify_s is not None
    decoded, header = decompress_file(out, registry)  # no checkpoint: found by identity
    assert decoded.dtype == x.dtype and decoded.shape == x.shape
    np.testing.assert_array_equal(decoded, x)
    assert header.dtype == x.dtype.str and header.image_shape == x.shape[1:]


def test_header_records_the_settings_and_no_paths(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    config = project_config(coder="BB-IS", num_particles=3, chains=2, lanes=3)
    result = compress_to_file(config, registry, images, out)
    data = out.read_bytes()
    assert (result.num_images, result.obs_dim, result.file_bytes) == (5, 784, len(data))
    assert result.file_bpd == pytest.approx(8 * result.file_bytes / (5 * 784))

    container = CompressedFile.from_bytes(data)
    header = container.header
    assert (header.coder, header.num_particles, header.chains, header.lanes) == (
        "ISBitsBackCoder",
        3,
        2,
        3,
    )
    assert (header.proposal, header.discretizer, header.model, header.latent_dim) == (
        "amortized", "max_entropy", "BinaryVAE", 50
    )  # fmt: skip
    assert header.portable and header.iterative is None and header.seed == 42
    parts = build_components(config, registry)
    assert header.identity_matches(parts.model.identity())
    assert header.model_name == "mnist-elbo"
    assert (header.num_images, header.image_shape, header.dtype) == (5, (28, 28), "|u1")
    assert result.header_bytes == container.overhead_bytes == len(data) - len(container.frames[0])
    # Nothing of this machine: no path, not even a slash in any name.
    for path in (tmp_path, PROJECT_MODEL, PROJECT_MODEL / "model.pt", Path.cwd()):
        assert str(path).encode() not in data
    names = (header.coder, header.proposal, header.discretizer, header.model, header.model_name)
    assert not any("/" in name or "\\" in name for name in names)


def test_frames_are_independent_messages(registry: Registry, tmp_path: Path) -> None:
    """25 images, 10 per frame: 3 frames, each the message of its images alone, seeded per frame."""
    x = synthetic_images(25, seed=2)
    out = tmp_path / "x.bbz"
    config = project_config(chains=2)
    result = compress_to_file(
        config, registry, x, out, frame_images=10, verify=False, fallback="never"
    )
    assert result.num_frames == 3 and result.frame_codecs == (0, 0, 0)
    container = CompressedFile.read(out)
    assert [len(f) > 0 for f in container.frames] == [True] * 3
    decoded, _ = decompress_file(out, registry)
    np.testing.assert_array_equal(decoded, x)

    parts = build_components(config, registry)
    coder = build_coder(config, registry, parts)
    flat = x.reshape(25, 784)
    for k, frame in enumerate(container.frames):
        layout = container.header.frame_layout(k)
        message = Message((layout.chains, layout.lanes), seed=frame_seed(42, k))
        encode_dataset(coder, flat[10 * k : 10 * k + layout.num_items], layout, message)
        assert message.to_frame_bytes() == frame
    assert frame_seed(42, 0) == 42  # frame 0 is the message `bitsback run` would code


def test_float_arithmetic_and_iterative_inference_round_trip(
    registry: Registry, tmp_path: Path
) -> None:
    x = synthetic_images(3, seed=3)
    out = tmp_path / "f.bbz"
    compress_to_file(project_config(arithmetic="float"), registry, x, out, fallback="never")
    header = CompressedFile.read(out).header
    assert not header.portable and out.read_bytes()[5] == 0
    assert header.identity_matches(file_sha256(PROJECT_MODEL / "model.pt"))
    np.testing.assert_array_equal(decompress_file(out, registry)[0], x)

    out = tmp_path / "i.bbz"
    config = project_config(
        iterative_post_improvement=True,
        iterative_improvement_steps=2,
        iterative_improvement_lr=0.05,
    )
    compress_to_file(config, registry, x, out, fallback="never")
    header = CompressedFile.read(out).header
    assert header.iterative == (2, 0.05) and header.proposal == "iterative"
    assert out.read_bytes()[5] == 0x07  # portable, iterative, model format 2
    np.testing.assert_array_equal(decompress_file(out, registry)[0], x)


def test_settings_the_format_cannot_hold_are_refused_before_any_work(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="images per frame 0"):
        compress_to_file(project_config(), registry, images, tmp_path / "a.bbz", frame_images=0)
    with pytest.raises(ConfigError, match="seed -1"):
        compress_to_file(project_config(seed=-1), registry, images, tmp_path / "b.bbz")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_before_any_work(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        compress_to_file(project_config(), registry, images, out)
    assert out.read_bytes() == b"precious"
    compress_to_file(project_config(), registry, images, out, overwrite=True)
    assert CompressedFile.read(out).header.num_images == 5


# --- the model: by identity, never by path -------------------------------------------------


def test_another_model_is_refused_by_its_identity(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    compress_to_file(project_config(), registry, images, out, fallback="never")
    with pytest.raises(ConfigError, match="not the one .* compressed with .*--checkpoint"):
        decompress_file(out, registry, checkpoint=str(OTHER_MODEL / "model.pt"))


def test_unknown_identity_names_the_model_and_asks_for_a_checkpoint(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    compress_to_file(project_config(), registry, images[:2], out, fallback="never")
    rewrite(out, identity=bytes.fromhex("ab" * 16))
    with pytest.raises(ConfigError) as info:
        decompress_file(out, registry)
    message = str(info.value)
    assert "'mnist-elbo'" in message and "abababababab..." in message
    assert "--checkpoint" in message and "\n" not in message


def test_a_moved_model_is_found_by_identity_or_through_checkpoint(
    registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    """The file names no path: a copy of a project model anywhere decodes it, and vice versa."""
    first = tmp_path / "run"
    first.mkdir()
    for name in ("model.pt", "train_config.yml"):
        shutil.copyfile(PROJECT_MODEL / name, first / name)
    out = tmp_path / "x.bbz"
    config = project_config(train_config=str(first / "train_config.yml"))
    compress_to_file(config, registry, images, out, fallback="never")
    assert CompressedFile.read(out).header.model_name == "run"
    np.testing.assert_array_equal(decompress_file(out, registry)[0], images)  # same identity

    moved = tmp_path / "moved"
    first.rename(moved)
    decoded, _ = decompress_file(out, registry, checkpoint=str(moved / "model.pt"))
    np.testing.assert_array_equal(decoded, images)
    (moved / "train_config.yml").unlink()  # the header's architecture is enough too
    decoded, _ = decompress_file(out, registry, checkpoint=str(moved / "model.pt"))
    np.testing.assert_array_equal(decoded, images)


# --- damaged and crafted files ---------------------------------------------------------------


@pytest.fixture
def small_file(registry: Registry, images: np.ndarray, tmp_path: Path) -> Path:
    out = tmp_path / "x.bbz"
    compress_to_file(project_config(lanes=1), registry, images[:2], out, fallback="never")
    return out


def test_frame_damage_names_the_frame(registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "x.bbz"
    compress_to_file(
        project_config(), registry, synthetic_images(5), out, frame_images=2, verify=False
    )
    container = CompressedFile.read(out)
    offset = len(container.header.to_bytes()) + 8 + len(container.frames[0]) + 8 + 20
    data = bytearray(out.read_bytes())
    data[offset] ^= 0x40
    out.write_bytes(bytes(data))
    with pytest.raises(ContainerError, match=r"x\.bbz is damaged: frame 1 of 3 fails its checksum"):
        decompress_file(out, registry)


def test_every_truncation_is_refused_cleanly(small_file: Path, registry: Registry) -> None:
    data = small_file.read_bytes()
    for keep in range(len(data)):
        with pytest.raises(ContainerError):
            CompressedFile.from_bytes(data[:keep], name="cut.bbz")
    small_file.write_bytes(data[:-3])
    with pytest.raises(ContainerError, match="truncated"):
        decompress_file(small_file, registry)


def test_random_bit_flips_are_refused(small_file: Path, registry: Registry) -> None:
    data = small_file.read_bytes()
    rng = np.random.default_rng(0)
    for bit in rng.choice(8 * len(data), size=64, replace=False):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        small_file.write_bytes(bytes(flipped))
        with pytest.raises(ContainerError):
            decompress_file(small_file, registry)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(num_images=2**40, frame_images=2**24), "truncated"),
        (dict(num_images=2**41), "image count"),
        (dict(chains=2**10, lanes=2**11, num_images=2**12, frame_images=2**12), "lanes"),
        (dict(iterative=(10**9, 0.01)), "iterative steps"),
    ],
)
def test_crafted_headers_are_refused_in_milliseconds(
    small_file: Path, registry: Registry, changes: dict[str, Any], match: str
) -> None:
    rewrite(small_file, **changes)
    started = time.perf_counter()
    with pytest.raises(ContainerError, match=match):
        decompress_file(small_file, registry)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("version", [None, 1, 2])
def test_the_portable_model_format_is_recorded_and_decoded(
    registry: Registry, images: np.ndarray, tmp_path: Path, version: int | None
) -> None:
    """Format 2 by default (flag bit 2); format 1 on request, without the flag, as every
    file before format 2; each decodes by identity with its own format's model."""
    out = tmp_path / "x.bbz"
    compress_to_file(
        project_config(portable_format=version), registry, images, out, fallback="never"
    )
    header = CompressedFile.read(out).header
    expected = version or 2
    assert header.portable_format == expected and out.read_bytes()[5] == (
        0x05 if expected == 2 else 0x01
    )
    parts = build_components(project_config(portable_format=expected), registry)
    assert parts.model.portable_format == expected
    assert header.identity_matches(parts.model.identity())
    other = build_components(project_config(portable_format=3 - expected), registry)
    assert not header.identity_matches(other.model.identity())
    decoded, _ = decompress_file(out, registry)
    np.testing.assert_array_equal(decoded, images)
    # With --checkpoint too: the file's format is built, not the newest.
    decoded, _ = decompress_file(out, registry, checkpoint=str(PROJECT_MODEL / "model.pt"))
    np.testing.assert_array_equal(decoded, images)


def test_a_portable_format_the_model_lacks_is_refused(
    small_file: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="has no portable format 7 .it has 1, 2."):
        build_components(project_config(portable_format=7), registry)
    model_cls = registry.get("model", "BinaryVAE")
    monkeypatch.setattr(model_cls, "PORTABLE_FORMATS", (1,))  # a plugin from before format 2
    assert CompressedFile.read(small_file).header.portable_format == 2
    with pytest.raises(
        ContainerError, match="portable model format 2, which model plugin .*it has 1"
    ):
        decompress_file(small_file, registry)


def test_format_1_files_are_refused_naming_the_format(registry: Registry, tmp_path: Path) -> None:
    old = tmp_path / "old.bbz"
    old.write_bytes(b"BITSBACK" + struct.pack("<HI", 1, 2) + b"{}" + b"\0" * 40)
    with pytest.raises(ContainerError, match="written in bitsback format 1 .* at commit 46f0c26"):
        decompress_file(old, registry)


def test_a_missing_component_is_named(small_file: Path, registry: Registry) -> None:
    rewrite(small_file, coder="NoSuchCoder")
    with pytest.raises(ContainerError, match="needs coder 'NoSuchCoder', which is not installed"):
        decompress_file(small_file, registry)


def test_image_shape_must_fit_the_model(small_file: Path, registry: Registry) -> None:
    rewrite(small_file, image_shape=(28, 27))
    with pytest.raises(ContainerError, match=r"images of shape \(28, 27\); its model codes 784"):
        decompress_file(small_file, registry)


def test_a_message_that_does_not_unwind_is_rejected(small_file: Path, registry: Registry) -> None:
    # A well-formed message holding something else: decoding must not end at the start state.
    other = Message((1, 1), seed=42)
    LaneView(other).push(Uniform(256, 8, (1, 300)), np.full((1, 300), 3))
    rewrite(small_file, frames=(other.to_frame_bytes(),))
    with pytest.raises(ContainerError, match="initial state|does not decode"):
        decompress_file(small_file, registry)


def test_a_message_that_runs_out_names_the_file_and_frame(
    small_file: Path, registry: Registry
) -> None:
    rewrite(small_file, frames=(Message((1, 1), seed=42).to_frame_bytes(),))
    with pytest.raises(ContainerError, match=r"x\.bbz, frame 0: popped past the end"):
        decompress_file(small_file, registry)


def test_missing_file(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        decompress_file(tmp_path / "none.bbz", registry)


# --- as_binary_images ----------------------------------------------------------------------


def test_as_binary_images_flattens_and_remembers_the_shape() -> None:
    x = np.zeros((2, 28, 28), dtype=bool)
    flat, shape = as_binary_images(x, 784)
    assert flat.shape == (2, 784) and flat.dtype == np.uint8 and shape == (28, 28)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((0, 784), np.uint8), "non-empty"),
        (np.zeros(784, np.uint8), "non-empty"),
        (np.zeros((2, 27, 28), np.uint8), "784 pixels"),
        (np.zeros((2, 784), np.float32), "integers 0/1"),
        (np.full((2, 784), 2, np.uint8), "binary"),
        (np.full((2, 784), -1, np.int8), "binary"),
    ],
)
def test_as_binary_images_rejects(array: np.ndarray, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        as_binary_images(array, 784)


# --- verification: the written bytes must decode to the input ------------------------------


def _decoder_returning(change: Callable[[np.ndarray], np.ndarray]):  # type: ignore[no-untyped-def]
    """A stand-in for ``iter_decoded_frames`` that decodes for real, then alters each frame."""
    real = files.iter_decoded_frames

    def decode(container: CompressedFile, *args, **kwargs):  # type: ignore[no-untyped-def]
        for index, images in real(container, *args, **kwargs):
            yield index, change(images)

    return decode


def _flip_image_3(images: np.ndarray) -> np.ndarray:
    out = images.copy()
    out[3].flat[100] ^= 1
    return out


def test_a_file_that_decodes_to_other_images_is_not_kept(
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "iter_decoded_frames", _decoder_returning(_flip_image_3))
    out = tmp_path / "x.bbz"
    config = project_config()
    with pytest.raises(VerificationError, match="differ from the input at image 3") as info:
        compress_to_file(config, registry, images, out)
    assert "\n" not in str(info.value) and str(out) in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file

    # With --force an existing file is neither replaced nor removed.
    out.write_bytes(b"precious")
    with pytest.raises(VerificationError):
        compress_to_file(config, registry, images, out, overwrite=True)
    assert out.read_bytes() == b"precious" and list(tmp_path.iterdir()) == [out]


def test_a_decoder_error_fails_verification_and_names_the_cause(
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")

    monkeypatch.setattr(files, "iter_decoded_frames", broken)
    out = tmp_path / "x.bbz"
    with pytest.raises(VerificationError, match=r"not decode \(ValueError: push needs 1 <= freq"):
        compress_to_file(project_config(), registry, images[:2], out)
    assert list(tmp_path.iterdir()) == []


def test_decoded_shape_is_checked(
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flat = _decoder_returning(lambda x: x.reshape(x.shape[0], -1))
    monkeypatch.setattr(files, "iter_decoded_frames", flat)
    expected = (
        r"frame 0 as a uint8 array of shape \(2, 784\), expected uint8 of shape \(2, 28, 28\)"
    )
    with pytest.raises(VerificationError, match=expected):
        compress_to_file(project_config(), registry, images[:2], tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_verification_decodes_the_written_bytes(
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bytes, dict]] = []
    real = files.iter_decoded_frames

    def spy(container: CompressedFile, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((container.to_bytes(), kwargs))
        return real(container, *args, **kwargs)

    monkeypatch.setattr(files, "iter_decoded_frames", spy)
    out = tmp_path / "x.bbz"
    result = compress_to_file(project_config(), registry, images, out)
    assert len(seen) == 1 and seen[0][0] == out.read_bytes()
    assert seen[0][1]["name"] == str(out)  # errors would name the output, not the temp file
    assert result.verify_s is not None and result.verify_s > 0
    assert list(tmp_path.iterdir()) == [out]


def test_no_verify_skips_decoding(
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded although verify=False")

    monkeypatch.setattr(files, "iter_decoded_frames", never)
    out = tmp_path / "x.bbz"
    result = compress_to_file(project_config(), registry, images, out, verify=False)
    assert result.verify_s is None and result.file_bytes == out.stat().st_size
    monkeypatch.undo()
    decoded, _ = decompress_file(out, registry)
    np.testing.assert_array_equal(decoded, images)
