"""Streaming frames: memory-mapped input, frame-by-frame writing, parallel decoding, ranges.

Small files (3-4 frames of 2 images, BB-ELBO over the project's default model) so the
tests stay quick; only two tests start worker processes (each costs seconds to import
torch and load the model). Frames of two images would be stored with a classical codec,
so these files are written with ``fallback="never"`` to test the bits-back frames; files
of mixed codecs are tested in ``test_fallback_frames.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bitsback_core.ans.message import Message
from bitsback_core.cli.main import main as cli_main
from bitsback_core.compression import encode_dataset
from bitsback_core.compression.container import CompressedFile, ContainerError
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import files
from bitsback_core.pipeline.components import build_coder, build_components, default_checkpoint_dir
from bitsback_core.pipeline.files import (
    compress_to_file,
    decode_container,
    decompress_file,
    decompress_to_npy,
    iter_decoded_frames,
)
from bitsback_core.pipeline.frames import (
    FrameRangeError,
    default_jobs,
    map_in_order,
    parse_frame_range,
    select_frames,
)
from bitsback_core.registry import Registry


@pytest.fixture(autouse=True)
def project_model() -> None:
    if not any(default_checkpoint_dir().glob("*/model.pt")):
        pytest.skip("the project's checkpoints/ are absent")


def elbo_config(**values: Any) -> Config:
    return Config.from_mapping({"coder": "BitsBackCoder", "num_particles": 1, **values})


def binary_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` bool ``(28, 28)`` images: sparse noise over one stroke each."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28)) < 0.05
    for i in range(n):
        row, col = rng.integers(6, 22, size=2)
        x[i, row - 5 : row + 5, col - 1 : col + 2] = True
    return x


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    return binary_images(7)


@pytest.fixture(scope="module")
def framed(registry: Registry, seven: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven images in four bits-back frames (2, 2, 2, 1), verified in this process (read-only)."""
    out = tmp_path_factory.mktemp("framed") / "seven.bbz"
    compress_to_file(elbo_config(), registry, seven, out, frame_images=2, jobs=1, fallback="never")
    return out


# --- encoding ------------------------------------------------------------------------------


def test_streamed_file_equals_the_frames_coded_in_memory(
    registry: Registry, seven: np.ndarray, framed: Path
) -> None:
    """The file written frame by frame holds exactly the messages an in-memory encode makes."""
    container = CompressedFile.read(framed)
    header = container.header
    config = elbo_config()
    coder = build_coder(config, registry, build_components(config, registry))
    frames = []
    flat = seven.reshape(7, -1).astype(np.uint8)
    for index in range(header.num_frames):
        layout = header.frame_layout(index)
        message = Message(
            (layout.chains, layout.lanes), header.lprec, header.bprec, seed=header.frame_seed(index)
        )
        encode_dataset(coder, flat[header.frame_slice(index)], layout, message)
        frames.append(message.to_frame_bytes())
    assert header.num_frames == 4
    assert CompressedFile(header=header, frames=tuple(frames)).to_bytes() == framed.read_bytes()


def test_a_read_only_memmap_is_coded_like_the_array(
    registry: Registry, seven: np.ndarray, framed: Path, tmp_path: Path
) -> None:
    np.save(tmp_path / "in.npy", seven)
    mapped = np.load(tmp_path / "in.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    out = tmp_path / "mapped.bbz"
    result = compress_to_file(
        elbo_config(), registry, mapped, out, frame_images=2, jobs=1, fallback="never"
    )
    assert out.read_bytes() == framed.read_bytes()
    assert result.num_frames == 4 and result.file_bytes == out.stat().st_size
    decoded, _ = decompress_file(out, registry, jobs=1)
    assert decoded.dtype == np.bool_ and decoded.shape == (7, 28, 28)
    np.testing.assert_array_equal(decoded, seven)


def _rss_file_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("RssFile:"))


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's /proc")
def test_scanning_a_mapped_input_does_not_keep_its_pages(tmp_path: Path) -> None:
    """The check before coding reads every byte of a memmap, and lets its pages go again."""
    np.save(tmp_path / "big.npy", np.zeros((40_000, 28, 28), dtype=bool))  # 31 MB
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    before = _rss_file_kib()
    checked = files._check_images(mapped, 784)
    assert checked.shape == (40_000, 28, 28)
    assert _rss_file_kib() - before < 2_000
    np.asarray(mapped[:20_000]).sum()  # the same reads without releasing: pages stay
    held = _rss_file_kib() - before
    files._release_pages(files._check_images(mapped[:10], 784))  # a view releases the map
    released = _rss_file_kib() - before
    assert held > 10_000 and released < 2_000, (held, released)


def test_a_non_binary_memmap_is_refused_before_any_output(
    registry: Registry, tmp_path: Path
) -> None:
    x = binary_images(3).astype(np.uint8)
    x[2, 5, 5] = 2
    np.save(tmp_path / "in.npy", x)
    mapped = np.load(tmp_path / "in.npy", mmap_mode="r")
    with pytest.raises(ConfigError, match="binary"):
        compress_to_file(elbo_config(), registry, mapped, tmp_path / "x.bbz", frame_images=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_a_bad_jobs_value_is_refused_before_any_work(
    registry: Registry, seven: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="jobs must be a positive integer"):
        compress_to_file(elbo_config(), registry, seven, tmp_path / "x.bbz", frame_images=2, jobs=0)
    assert list(tmp_path.iterdir()) == []


# --- selecting frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1:3", slice(1, 3)), (":2", slice(None, 2)), ("2:", slice(2, None)), (":", slice(None, None)),
     ("3", slice(3, 4)), ("-1", slice(-1, None)), ("-2:-1", slice(-2, -1))],
)  # fmt: skip
def test_parse_frame_range(text: str, expected: slice) -> None:
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize("text", ["", "a:b", "1:2:3", "1.5", "1-3"])
def test_parse_frame_range_refuses(text: str) -> None:
    with pytest.raises(FrameRangeError, match="is not A:B or K"):
        parse_frame_range(text)


def test_select_frames_follows_slices_and_refuses_what_a_file_lacks() -> None:
    assert select_frames(4, None, "f") == range(4)
    assert list(select_frames(4, slice(1, 3), "f")) == [1, 2]
    assert list(select_frames(4, slice(-1, None), "f")) == [3]
    assert list(select_frames(4, slice(None, 4), "f")) == [0, 1, 2, 3]
    for bad in (slice(5, None), slice(0, 5), slice(-5, None)):
        with pytest.raises(FrameRangeError, match="outside f's 4 frames \\(0 to 3\\)"):
            select_frames(4, bad, "f")
    for empty in (slice(2, 2), slice(3, 1), slice(4, None)):
        with pytest.raises(FrameRangeError, match="selects none of f's 4 frames"):
            select_frames(4, empty, "f")


@pytest.mark.parametrize(("frames", "rows"), [(slice(1, 3), slice(2, 6)), (slice(-1, None), slice(6, 7)),
                                              (slice(None, 1), slice(0, 2)), (slice(None), slice(0, 7))])  # fmt: skip
def test_a_frame_range_decodes_only_its_images(
    registry: Registry, seven: np.ndarray, framed: Path, frames: slice, rows: slice
) -> None:
    decoded, header = decompress_file(framed, registry, frames=frames, jobs=1)
    assert header.num_images == 7
    np.testing.assert_array_equal(decoded, seven[rows])


def test_decompress_to_npy_writes_the_selected_frames(
    registry: Registry, seven: np.ndarray, framed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.npy"
    count, _ = decompress_to_npy(framed, out, registry, frames=slice(2, None), jobs=1)
    loaded = np.load(out)
    assert count == 3 and loaded.dtype == np.bool_
    np.testing.assert_array_equal(loaded, seven[4:])
    with pytest.raises(FileExistsError):
        decompress_to_npy(framed, out, registry, jobs=1)
    decompress_to_npy(framed, out, registry, jobs=1, overwrite=True)
    np.testing.assert_array_equal(np.load(out), seven)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]


def test_a_bad_range_is_refused_before_the_model_loads_and_writes_nothing(
    registry: Registry, framed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded for a range the file does not have")

    monkeypatch.setattr(files, "_decoder_session", no_model)
    with pytest.raises(FrameRangeError, match="outside"):
        decompress_file(framed, registry, frames=slice(2, 9))
    with pytest.raises(FrameRangeError, match="selects none"):
        decompress_to_npy(framed, tmp_path / "out.npy", registry, frames=slice(3, 3))
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_frame_outside_the_range_is_not_decoded(
    registry: Registry, seven: np.ndarray, framed: Path
) -> None:
    """Frames are independent: a frame that would not decode only matters when selected."""
    container = CompressedFile.read(framed)
    f = container.frames
    swapped = CompressedFile(
        header=container.header, frames=(f[0], f[2], f[1], f[3])
    )  # 1 and 2 swapped
    decoded, _ = decode_container(swapped, registry, frames=slice(None, 1), jobs=1)
    np.testing.assert_array_equal(decoded, seven[:2])
    with pytest.raises(ContainerError, match="frame 1"):
        decode_container(swapped, registry, frames=slice(1, None), jobs=1)


# --- parallel decoding ---------------------------------------------------------------------


def test_default_jobs() -> None:
    assert default_jobs(1, 4) == 1 and default_jobs(3, 2) == 2
    assert default_jobs(None, 1) == 1
    assert default_jobs(None, 4, images=8) == 1  # tiny frames: a process costs more than it saves
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            default_jobs(bad, 4)  # type: ignore[arg-type]


def _square_builder(offset: int):  # type: ignore[no-untyped-def]
    """Squares plus ``offset`` with the process id; task 7 fails as a damaged frame would."""

    def square(task: int) -> tuple[int, int]:
        if task == 7:
            raise ContainerError("x.bbz, frame 7: damaged")
        return task * task + offset, os.getpid()

    return square


def test_map_in_order_keeps_order_uses_the_workers_and_raises_their_errors() -> None:
    results = []
    with pytest.raises(ContainerError, match="^x.bbz, frame 7: damaged$"):
        results.extend(
            map_in_order(_square_builder(1), _square_builder, (1,), list(range(9)), jobs=2)
        )
    # This process takes every second task; task 7 is a worker's, raised here in order.
    assert [r for r, _ in results] == [t * t + 1 for t in range(7)]
    pids = [pid for _, pid in results]
    assert pids[0::2] == [os.getpid()] * 4 and os.getpid() not in pids[1::2]


def test_parallel_decoding_equals_one_process(
    registry: Registry, seven: np.ndarray, framed: Path
) -> None:
    """jobs=2 (this process and one worker) decodes the same images in the same order."""
    container = CompressedFile.read(framed)
    one = list(iter_decoded_frames(container, registry, jobs=1))
    two = list(iter_decoded_frames(container, registry, jobs=2))
    assert [i for i, _ in two] == [0, 1, 2, 3]
    for (_, a), (_, b) in zip(one, two, strict=True):
        assert a.dtype == b.dtype == np.bool_
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.concatenate([x for _, x in two]), seven)


def test_parallel_encoding_writes_the_same_bytes(
    registry: Registry, seven: np.ndarray, framed: Path, tmp_path: Path
) -> None:
    """jobs=2: a worker builds the coder the file's header names and codes every second
    frame; the file is byte for byte the one this process alone wrote."""
    out = tmp_path / "two.bbz"
    result = compress_to_file(
        elbo_config(), registry, seven, out, frame_images=2, jobs=2, fallback="never", verify=False
    )
    assert result.num_frames == 4
    assert out.read_bytes() == framed.read_bytes()


# --- the command line ----------------------------------------------------------------------


def test_cli_frames_selects_and_refuses(
    seven: np.ndarray, framed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "part.npy"
    assert (
        cli_main(["decompress", str(framed), "-o", str(out), "--frames", "1:3", "--jobs", "1"]) == 0
    )
    np.testing.assert_array_equal(np.load(out), seven[2:6])
    assert cli_main(["test", str(framed), "--frames=-1:", "-j", "1"]) == 0
    printed = capsys.readouterr()
    assert "OK" in printed.out and "1 images" in printed.out  # only the last frame's image
    for bad in (["--frames", "2:9"], ["--frames", "3:3"], ["--frames", "a"], ["--jobs", "0"]):
        capsys.readouterr()
        assert cli_main(["decompress", str(framed), "-o", str(tmp_path / "no.npy"), *bad]) == 2
        assert cli_main(["test", str(framed), *bad]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 2 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part.npy"]
