"""``compress_to_file`` / ``decompress_file``: images to a self-describing file and back."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from paper_paths import paper_train_config

from bitsback_core.ans.message import Message
from bitsback_core.compression.container import CompressedFile, ContainerError
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline.components import file_sha256
from bitsback_core.pipeline.data import load_images
from bitsback_core.pipeline import files
from bitsback_core.pipeline.files import (
    CompressResult,
    VerificationError,
    as_binary_images,
    compress_to_file,
    decompress_file,
)
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]


@pytest.fixture
def images(make_config: MakeConfig, registry: Registry) -> np.ndarray:
    """Five test images, shaped like a user's ``(n, 28, 28)`` array."""
    return load_images(make_config(num_compress=5), registry).reshape(5, 28, 28)


def test_round_trip_keeps_shape_and_records_the_model(
    make_config: MakeConfig, registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    config = make_config(5, coder="BB-IS", num_particles=3, chains=2, lanes=3)
    result = compress_to_file(config, registry, images, out)
    assert isinstance(result, CompressResult)
    assert (result.num_images, result.obs_dim, result.file_bytes) == (5, 784, out.stat().st_size)
    assert result.file_bpd == pytest.approx(8 * result.file_bytes / (5 * 784))

    decoded, header = decompress_file(out, registry)
    np.testing.assert_array_equal(decoded, images)
    assert decoded.shape == (5, 28, 28)
    model_pt = paper_train_config("mnist", 5).parent / "model.pt"
    assert header["model_sha256"] == file_sha256(model_pt)
    assert header["image_shape"] == [28, 28] and header["num_images"] == 5
    assert header["config"]["coder"] == "BB-IS" and header["config"]["num_particles"] == 3
    assert (header["config"]["chains"], header["config"]["lanes"]) == (2, 3)
    assert header["config"]["checkpoint"] == str(model_pt.resolve())


def test_flat_images_come_back_flat(
    make_config: MakeConfig, registry: Registry, tmp_path: Path
) -> None:
    x = load_images(make_config(num_compress=3), registry)
    out = tmp_path / "flat.bbz"
    compress_to_file(make_config(1, coder="BitsBackCoder"), registry, x.astype(np.int64), out)
    decoded, _ = decompress_file(out, registry)
    assert decoded.shape == (3, 784) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, x)


def test_existing_output_is_refused_before_any_work(
    make_config: MakeConfig, registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        compress_to_file(make_config(1), registry, images, out)
    assert out.read_bytes() == b"precious"
    compress_to_file(make_config(1), registry, images, out, overwrite=True)
    assert CompressedFile.read(out).header["num_images"] == 5


def test_another_model_is_refused_by_its_digest(
    make_config: MakeConfig, registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "x.bbz"
    compress_to_file(make_config(1), registry, images, out)
    other = paper_train_config("mnist", 5).parent / "model.pt"
    with pytest.raises(ConfigError, match="not the one .* compressed with"):
        decompress_file(out, registry, checkpoint=str(other))


def test_moved_model_folder_is_found_through_checkpoint(
    make_config: MakeConfig, registry: Registry, images: np.ndarray, tmp_path: Path
) -> None:
    """The header's train_config path may be stale; ``--checkpoint`` must be enough."""
    first = tmp_path / "run"
    first.mkdir()
    source = paper_train_config("mnist", 1).parent
    for name in ("model.pt", "train_config.yml"):
        shutil.copyfile(source / name, first / name)
    config = make_config(1)
    config = Config.from_mapping(
        config.as_dict() | {"train_config": str(first / "train_config.yml")}
    )
    out = tmp_path / "x.bbz"
    compress_to_file(config, registry, images, out)

    moved = tmp_path / "moved"
    first.rename(moved)
    decoded, _ = decompress_file(out, registry, checkpoint=str(moved / "model.pt"))
    np.testing.assert_array_equal(decoded, images)
    (moved / "train_config.yml").unlink()  # the header's architecture is enough too
    decoded, _ = decompress_file(out, registry, checkpoint=str(moved / "model.pt"))
    np.testing.assert_array_equal(decoded, images)


def _rewrite(path: Path, header: dict | None = None, message: bytes | None = None) -> None:
    """Re-pack a file with a valid checksum around altered contents."""
    container = CompressedFile.read(path)
    new = CompressedFile(
        header=container.header if header is None else header,
        message=container.message if message is None else message,
    )
    path.write_bytes(new.to_bytes())


@pytest.fixture
def small_file(
    make_config: MakeConfig, registry: Registry, images: np.ndarray, tmp_path: Path
) -> Path:
    out = tmp_path / "x.bbz"
    compress_to_file(make_config(1, coder="BitsBackCoder", lanes=1), registry, images[:2], out)
    return out


def test_incomplete_header_is_a_container_error(small_file: Path, registry: Registry) -> None:
    header = CompressedFile.read(small_file).header
    del header["model_sha256"]
    _rewrite(small_file, header=header)
    with pytest.raises(ContainerError, match="incomplete header"):
        decompress_file(small_file, registry)


def test_message_shape_must_agree_with_the_header(small_file: Path, registry: Registry) -> None:
    header = CompressedFile.read(small_file).header
    header["config"]["lanes"] = 2
    _rewrite(small_file, header=header)
    with pytest.raises(ContainerError, match="disagrees with its header"):
        decompress_file(small_file, registry)


def test_garbage_message_bytes_are_a_container_error(small_file: Path, registry: Registry) -> None:
    _rewrite(small_file, message=b"\x00" * 40)
    with pytest.raises(ContainerError):
        decompress_file(small_file, registry)


def test_a_message_that_does_not_unwind_is_rejected(small_file: Path, registry: Registry) -> None:
    # A well-formed message holding something else: decoding must not end at the start state.
    other = Message((1, 1), seed=42)
    for _ in range(300):
        other.push(3, 5, 8)
    _rewrite(small_file, message=other.to_bytes())
    with pytest.raises(ContainerError, match="initial state|does not decode"):
        decompress_file(small_file, registry)


def test_a_message_that_runs_out_names_the_file(small_file: Path, registry: Registry) -> None:
    _rewrite(small_file, message=Message((1, 1), seed=42).to_bytes())
    with pytest.raises(ContainerError, match=r"x\.bbz: popped past the end"):
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
    """A stand-in for ``decode_container`` that decodes for real, then alters the images."""
    real = files.decode_container

    def decode(container: CompressedFile, *args, **kwargs):  # type: ignore[no-untyped-def]
        images, header = real(container, *args, **kwargs)
        return change(images), header

    return decode


def _flip_image_3(images: np.ndarray) -> np.ndarray:
    out = images.copy()
    out[3].flat[100] ^= 1
    return out


def test_a_file_that_decodes_to_other_images_is_not_kept(
    make_config: MakeConfig,
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "decode_container", _decoder_returning(_flip_image_3))
    out = tmp_path / "x.bbz"
    config = make_config(1, coder="BB-ELBO")
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
    make_config: MakeConfig,
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")

    monkeypatch.setattr(files, "decode_container", broken)
    out = tmp_path / "x.bbz"
    with pytest.raises(VerificationError, match=r"not decode \(ValueError: push needs 1 <= freq"):
        compress_to_file(make_config(1, coder="BB-ELBO"), registry, images[:2], out)
    assert list(tmp_path.iterdir()) == []


def test_decoded_shape_is_checked(
    make_config: MakeConfig,
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flat = _decoder_returning(lambda x: x.reshape(x.shape[0], -1))
    monkeypatch.setattr(files, "decode_container", flat)
    expected = r"shape \(2, 784\), expected uint8 of shape \(2, 28, 28\)"
    with pytest.raises(VerificationError, match=expected):
        compress_to_file(make_config(1, coder="BB-ELBO"), registry, images[:2], tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


def test_verification_decodes_the_written_bytes(
    make_config: MakeConfig,
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bytes, dict]] = []
    real = files.decode_container

    def spy(container: CompressedFile, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((container.to_bytes(), kwargs))
        return real(container, *args, **kwargs)

    monkeypatch.setattr(files, "decode_container", spy)
    out = tmp_path / "x.bbz"
    result = compress_to_file(make_config(1, coder="BB-ELBO"), registry, images, out)
    assert len(seen) == 1 and seen[0][0] == out.read_bytes()
    assert seen[0][1]["name"] == str(out)  # errors would name the output, not the temp file
    assert result.verify_s is not None and result.verify_s > 0
    assert list(tmp_path.iterdir()) == [out]


def test_no_verify_skips_decoding(
    make_config: MakeConfig,
    registry: Registry,
    images: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded although verify=False")

    monkeypatch.setattr(files, "decode_container", never)
    out = tmp_path / "x.bbz"
    result = compress_to_file(make_config(1, coder="BB-ELBO"), registry, images, out, verify=False)
    assert result.verify_s is None and result.file_bytes == out.stat().st_size
    monkeypatch.undo()
    decoded, _ = decompress_file(out, registry)
    np.testing.assert_array_equal(decoded, images)
