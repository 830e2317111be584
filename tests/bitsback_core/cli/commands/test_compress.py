"""``bitsback compress`` and ``bitsback decompress``: round trips across processes, and errors.

Every error must exit with code 2, print one ``error:`` line on stderr and leave the file
system as it was: no output created, no existing file overwritten. Tests that use
``synthetic_npy`` need only the project's own checkpoints; the others need the shared data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.cli.main import main
from bitsback_core.config import Config
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import load_registry

SHARED = Path(__file__).resolve().parents[4].parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
DATA = SHARED / "data" / "emnist"
SEED_CONFIG = SHARED / "seed" / "configs" / "compress_bin_emnist.yml"
CODERS = ("StochasticCoder", "BitsBackCoder", "ISBitsBackCoder", "CISBitsBackCoder")


def _train_config(num: int) -> str:
    return str(PAPER / f"train_bin_emnist_split=mnist_num={num}" / "train_config.yml")


def _model_pt(num: int) -> str:
    return str(PAPER / f"train_bin_emnist_split=mnist_num={num}" / "model.pt")


PROJECT_MODEL = Path(__file__).resolve().parents[4] / "checkpoints" / "bin_emnist_split=mnist_elbo"


@pytest.fixture(autouse=True)
def shared(request: pytest.FixtureRequest) -> None:
    if "synthetic_npy" in request.fixturenames:  # the project's models, synthetic images
        if not (PROJECT_MODEL / "model.pt").is_file():
            pytest.skip("the project's checkpoints/ are absent")
    elif not (PAPER.is_dir() and DATA.is_dir() and SEED_CONFIG.is_file()):
        pytest.skip(f"shared checkpoints, data and seed configs under {SHARED} are absent")


@pytest.fixture(scope="module")
def dataset_images() -> np.ndarray:
    """Six binarized test images as a user would save them: ``(6, 28, 28)`` uint8."""
    config = Config.from_mapping({"datadir": str(DATA), "num_compress": 6})
    return load_images(config, load_registry()).reshape(6, 28, 28)


@pytest.fixture
def images_npy(tmp_path: Path, dataset_images: np.ndarray) -> Path:
    path = tmp_path / "images.npy"
    np.save(path, dataset_images)
    return path


def _bitsback(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = shutil.which("bitsback")
    assert script is not None, "the bitsback console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "BITSBACK_DEBUG"}
    return subprocess.run(
        [script, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env, check=False
    )


def _compress(source: Path, output: Path, *options: str, paper_model: int | None = 1) -> list[str]:
    """``compress -i source -o output`` with the paper's model trained on ``paper_model``
    images (None: no model named, compress picks the project's) and ``options``."""
    argv = ["compress", "-i", str(source), "-o", str(output), *options]
    if paper_model is not None:
        argv += ["--train_config", _train_config(paper_model)]
    return argv


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _fails(capsys: pytest.CaptureFixture[str], folder: Path, *argv: str) -> str:
    """Run ``argv``; it must fail cleanly and leave ``folder`` untouched. Returns the error line."""
    before = _files(folder)
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert _files(folder) == before
    return lines[0]


# --- round trips ---------------------------------------------------------------------------


def test_round_trip_decoding_in_separate_processes(
    tmp_path: Path, images_npy: Path, dataset_images: np.ndarray
) -> None:
    compressed = _bitsback(
        "compress",
        "--input",
        str(images_npy),
        "--output",
        "images.bbz",
        "--config",
        str(SEED_CONFIG),
        "--train_config",
        _train_config(5),
        "--coder",
        "CISBitsBackCoder",
        "--num_particles",
        "3",
        "--chains",
        "2",
        "--lanes",
        "3",
        "--gpu",
        "-1",  # the seed says gpu 0; decompress decodes on the CPU
        cwd=tmp_path,
    )
    assert compressed.returncode == 0, compressed.stderr
    assert compressed.stdout.startswith("images.bbz: 6 images, "), compressed.stdout
    text = " ".join(compressed.stdout.split())
    assert re.search(r"encode [0-9.]+ s, verified in [0-9.]+ s", text), compressed.stdout
    # portable arithmetic (bit 0), model format 2 (bit 2)
    assert (tmp_path / "images.bbz").read_bytes()[:6] == b"\x89BBZ\x02\x05"

    # The paper's model is not among the project's: name it (its identity is checked).
    decompressed = _bitsback(
        "decompress",
        "images.bbz",
        "--output",
        "decoded.npy",
        "--checkpoint",
        _model_pt(5),
        cwd=tmp_path,
    )
    assert decompressed.returncode == 0, decompressed.stderr
    decoded = np.load(tmp_path / "decoded.npy")
    assert decoded.shape == (6, 28, 28)
    np.testing.assert_array_equal(decoded, dataset_images)


def test_round_trip_of_the_configured_test_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "test.bbz"
    code = main(
        [
            "compress",
            "-o",
            str(out),
            "--train_config",
            _train_config(1),
            "--datadir",
            str(DATA),
            "--num_compress",
            "4",
            "--coder",
            "BB-ELBO",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_images"] == 4 and report["obs_dim"] == 784
    assert report["file_bytes"] == out.stat().st_size
    assert report["file_bpd"] == pytest.approx(8 * report["file_bytes"] / (4 * 784))
    assert report["net_bits"] > 0 and report["total_bits"] >= report["net_bits"]
    assert report["encode_s"] > 0 and report["verify_s"] > 0

    assert report["header_bytes"] < 200 and report["num_frames"] == 1
    argv = ["decompress", str(out), "-o", str(tmp_path / "test.npy"), "--checkpoint", _model_pt(1)]
    assert main(argv) == 0
    assert "4 images of 784, dtype uint8" in " ".join(capsys.readouterr().out.split())
    expected = load_images(
        Config.from_mapping({"datadir": str(DATA), "num_compress": 4}), load_registry()
    )
    np.testing.assert_array_equal(np.load(tmp_path / "test.npy"), expected)


def test_force_overwrites(
    tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, npy = tmp_path / "x.bbz", tmp_path / "x.npy"
    out.write_bytes(b"old")
    npy.write_bytes(b"old")
    assert main(_compress(images_npy, out, "--force")) == 0
    assert (
        main(["decompress", str(out), "-o", str(npy), "--force", "--checkpoint", _model_pt(1)]) == 0
    )
    np.testing.assert_array_equal(np.load(npy), np.load(images_npy))


# --- errors: exit code 2, one line, nothing written ----------------------------------------


@pytest.fixture
def bbz(tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A file of bits-back frames (``--fallback never``: on these few images a classical
    codec would be shorter, and its frames decode without the model, unchecked)."""
    out = tmp_path / "x.bbz"
    assert main(_compress(images_npy, out, "--fallback", "never")) == 0
    capsys.readouterr()
    return out


def test_existing_output_without_force(
    tmp_path: Path, images_npy: Path, bbz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails(capsys, tmp_path, *_compress(images_npy, bbz))
    assert "already exists" in line and "--force" in line
    (tmp_path / "out.npy").write_bytes(b"keep me")
    line = _fails(capsys, tmp_path, "decompress", str(bbz), "-o", str(tmp_path / "out.npy"))
    assert "already exists" in line


def test_non_binary_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gray.npy"
    np.save(path, np.full((2, 28, 28), 7, dtype=np.uint8))
    line = _fails(capsys, tmp_path, *_compress(path, tmp_path / "g.bbz"))
    assert "binary" in line


def test_input_that_is_not_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.npy"
    path.write_text("not an array")
    line = _fails(capsys, tmp_path, *_compress(path, tmp_path / "n.bbz"))
    assert "notes.npy is not a .npy file" in line


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_file_is_refused(
    tmp_path: Path, bbz: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    data = bytearray(bbz.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 10]
    else:
        data[len(data) // 2] ^= 0x01
    bbz.write_bytes(bytes(data))
    line = _fails(capsys, tmp_path, "decompress", str(bbz), "-o", str(tmp_path / "y.npy"))
    expected = (
        "is truncated: frame 0 of 1 needs"
        if damage == "truncate"
        else "frame 0 of 1 fails its checksum"
    )
    assert expected in line and "x.bbz" in line


def test_not_a_bitsback_file(
    tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails(capsys, tmp_path, "decompress", str(images_npy), "-o", str(tmp_path / "y.npy"))
    assert "not a bitsback file" in line


def test_wrong_checkpoint_is_refused(
    tmp_path: Path, bbz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails(
        capsys,
        tmp_path,
        "decompress",
        str(bbz),
        "-o",
        str(tmp_path / "y.npy"),
        "--checkpoint",
        _model_pt(5),
    )
    assert "sha256" in line and "--checkpoint" in line


def test_missing_input_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails(capsys, tmp_path, *_compress(tmp_path / "none.npy", tmp_path / "n.bbz"))
    assert "none.npy does not exist" in line
    line = _fails(
        capsys, tmp_path, "decompress", str(tmp_path / "none.bbz"), "-o", str(tmp_path / "n.npy")
    )
    assert "none.bbz does not exist" in line


def test_unknown_coder_lists_the_coders(
    tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails(capsys, tmp_path, *_compress(images_npy, tmp_path / "c.bbz", "--coder", "gzip"))
    assert "'gzip'" in line
    for name in CODERS:
        assert name in line


def test_bad_config_value(
    tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _compress(images_npy, tmp_path / "c.bbz", "--num_particles", "abc", paper_model=None)
    line = _fails(capsys, tmp_path, *argv)
    assert "--num_particles expects an integer, got 'abc'" in line


def test_missing_output_directory(
    tmp_path: Path, images_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _fails(capsys, tmp_path, *_compress(images_npy, tmp_path / "no" / "c.bbz"))
    assert "does not exist" in line


# --- verification --------------------------------------------------------------------------


def _decode_other_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the decoder behind compress's check return the images with image 2 altered."""
    from bitsback_core.pipeline import files

    if not hasattr(files, "iter_decoded_frames"):  # the check decodes the whole file at once
        real = files.decode_container

        def decode(*args, **kwargs):  # type: ignore[no-untyped-def]
            images, header = real(*args, **kwargs)
            images = images.copy()
            images[2].flat[0] ^= 1
            return images, header

        monkeypatch.setattr(files, "decode_container", decode)
        return
    real_frames = files.iter_decoded_frames

    def frames(*args, **kwargs):  # type: ignore[no-untyped-def]
        for index, images in real_frames(*args, **kwargs):  # the check compares frame by frame
            if index == 0:
                images = images.copy()
                images[2].flat[0] ^= 1
            yield index, images

    monkeypatch.setattr(files, "iter_decoded_frames", frames)


def test_failed_verification_exits_with_one_line_and_writes_nothing(
    tmp_path: Path,
    images_npy: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _decode_other_images(monkeypatch)
    out = tmp_path / "v.bbz"
    line = _fails(capsys, tmp_path, *_compress(images_npy, out, "--coder", "BB-ELBO"))
    assert line.startswith("error: verification failed: ")
    assert "differ from the input at image 2" in line and "v.bbz was not written" in line


def test_no_verify_skips_the_check(
    tmp_path: Path,
    images_npy: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _decode_other_images(monkeypatch)
    out = tmp_path / "v.bbz"
    argv = _compress(images_npy, out, "--coder", "BB-ELBO", "--no-verify")
    assert main(argv) == 0
    assert "not verified" in capsys.readouterr().out and out.is_file()
    assert main([*argv, "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verify_s"] is None


# --- format 2 with the project's own models (no shared data needed) -------------------------


@pytest.fixture
def synthetic_npy(tmp_path: Path) -> Path:
    """Five binary (28, 28) bool images, as a user might save them."""
    rng = np.random.default_rng(4)
    x = rng.random((5, 28, 28)) < 0.1
    x[:, 8:20, 12:15] = True
    path = tmp_path / "synthetic.npy"
    np.save(path, x)
    return path


def test_decompress_finds_the_project_model_by_identity(
    tmp_path: Path, synthetic_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.bbz"
    argv = _compress(
        synthetic_npy, out, "--coder", "BB-ELBO", "--frame-images", "2", paper_model=None
    )
    assert main(argv) == 0
    report = capsys.readouterr().out
    assert "3 frames" in report and " header, " in report
    assert main(["decompress", str(out), "-o", str(tmp_path / "s_out.npy")]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err  # portable arithmetic: no warning
    decoded = np.load(tmp_path / "s_out.npy")
    expected = np.load(synthetic_npy)
    assert decoded.dtype == expected.dtype == np.bool_
    np.testing.assert_array_equal(decoded, expected)


def test_float_files_decode_with_a_one_line_warning(
    tmp_path: Path, synthetic_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "f.bbz"
    argv = _compress(
        synthetic_npy, out, "--coder", "BB-ELBO", "--arithmetic", "float", paper_model=None
    )
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["decompress", str(out), "-o", str(tmp_path / "f.npy")]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "float arithmetic" in lines[0]
    assert "identical to the encoder's machine" in lines[0]
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), np.load(synthetic_npy))


def test_format_1_and_crafted_files_fail_in_one_line(
    tmp_path: Path, synthetic_npy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.bbz"
    old.write_bytes(b"BITSBACK" + b"\x01\x00" + b"\x02\x00\x00\x00{}" + b"\x00" * 40)
    line = _fails(capsys, tmp_path, "decompress", str(old), "-o", str(tmp_path / "o.npy"))
    assert "written in bitsback format 1" in line and "commit 46f0c26" in line

    import attrs

    from bitsback_core.compression import container

    out = tmp_path / "s.bbz"
    argv = _compress(synthetic_npy, out, "--coder", "BB-ELBO", "--no-verify", paper_model=None)
    assert main([*argv, "--fallback", "never"]) == 0  # classical frames would need no model
    capsys.readouterr()
    parsed = container.CompressedFile.read(out)
    for changes, expected in [
        (dict(num_images=2**40, frame_images=2**24), "is truncated"),
        (
            dict(identity=b"\xcd" * 16),
            "(identity cdcdcdcdcdcd...), which is not among this installation's",
        ),
    ]:
        header = attrs.evolve(parsed.header, **changes)
        out.write_bytes(attrs.evolve(parsed, header=header).to_bytes(check=False))
        line = _fails(capsys, tmp_path, "decompress", str(out), "-o", str(tmp_path / "o.npy"))
        assert expected in line


def test_frame_images_must_be_positive(tmp_path: Path, synthetic_npy: Path) -> None:
    argv = _compress(synthetic_npy, tmp_path / "z.bbz", "--frame-images", "0", paper_model=None)
    assert main(argv) == 2
    assert not (tmp_path / "z.bbz").exists()
