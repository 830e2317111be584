"""``compress`` / ``decompress`` / ``test`` shaped like gzip and zstd, with the project's model.

Positional inputs and default names, ``-o``/``-c``/``-f``/``--rm``, stdin and stdout,
.npz and PNG folders, refusals before any output exists, and 80-column result lines.
Needs only the project's own checkpoints (synthetic images, BB-ELBO with one particle).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bitsback_core.cli.main import main

PROJECT_MODEL = Path(__file__).resolve().parents[4] / "checkpoints" / "bin_emnist_split=mnist_elbo"
FAST = ["--coder", "BitsBackCoder", "--num_particles", "1"]

pytestmark = pytest.mark.skipif(
    not (PROJECT_MODEL / "model.pt").is_file(), reason="the project's checkpoints/ are absent"
)


def _images(n: int = 6, dtype: str = "bool", flat: bool = False) -> np.ndarray:
    rng = np.random.default_rng(n)
    x = rng.random((n, 28, 28)) < 0.1
    x[:, 8:20, 12:15] = True
    x = x.astype(dtype)
    return x.reshape(n, 784) if flat else x


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _fails(capsys: pytest.CaptureFixture[str], folder: Path, *argv: str) -> str:
    """``argv`` fails with one ``error:`` line, nothing on stdout, ``folder`` untouched."""
    before = _listing(folder)
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert _listing(folder) == before
    return lines[0]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_positional_inputs_default_names_and_dtype_round_trip(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _images(6, "int64"), _images(7, "bool", flat=True)
    np.save("a.npy", a)
    np.savez("b.npz", anything=b)
    assert main(["compress", "a.npy", "b.npz", *FAST]) == 0
    out = capsys.readouterr().out
    assert out.startswith("a.npy.bbz: 6 images, ") and "\nb.npz.bbz: 7 images, " in out
    assert "bits/dim" in out and "without header" in out and "img/s" in out
    assert Path("a.npy").is_file() and Path("b.npz").is_file()  # inputs are kept by default

    os.rename("a.npy", "a_orig.npy")
    assert main(["decompress", "a.npy.bbz", "b.npz.bbz", "-o", "x"]) == 2  # -o with two inputs
    capsys.readouterr()
    assert main(["decompress", "a.npy.bbz"]) == 0
    assert main(["decompress", "b.npz.bbz", "-o", "b_back.npz"]) == 0
    out = capsys.readouterr().out
    assert "a.npy: 6 images of 28 x 28, dtype int64" in out and "dtype bool" in out
    back = np.load("a.npy")
    assert back.dtype == np.int64 and back.shape == (6, 28, 28)
    np.testing.assert_array_equal(back, a)
    with np.load("b_back.npz") as archive:
        assert archive.files == ["images"] and archive["images"].dtype == np.bool_
        np.testing.assert_array_equal(archive["images"], b)
    assert main(["test", "a.npy.bbz", "b.npz.bbz"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("a.npy.bbz: OK, 6 images, ") and lines[1].startswith(
        "b.npz.bbz: OK, 7 images"
    )


def test_png_folder_round_trip_and_rm(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = _images(5, "uint8")
    Path("digits").mkdir()
    for i, image in enumerate(x):
        Image.fromarray(image * 255).save(f"digits/{i:02d}.png")
    assert main(["compress", "digits", "--rm", *FAST]) == 0
    assert capsys.readouterr().out.startswith("digits.bbz: 5 images")
    assert not Path("digits").exists() and Path("digits.bbz").is_file()  # removed after verifying
    assert main(["decompress", "digits.bbz", "--rm"]) == 0  # no suffix: a folder of PNGs
    assert not Path("digits.bbz").exists()
    assert sorted(p.name for p in Path("digits").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    with Image.open("digits/000003.png") as image:
        assert image.mode == "1"
        np.testing.assert_array_equal(np.array(image), x[3].astype(bool))


def test_refusals_before_any_output(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save("good.npy", _images(6))
    np.save("grey.npy", np.full((2, 28, 28), 7, np.uint8))
    np.save("small.npy", np.zeros((2, 27, 27), np.uint8))
    Path("notes.npy").write_text("not an array")
    np.savez("two.npz", a=_images(2), b=_images(2))
    # The bad input is the last one: the good one before it is not compressed either.
    for bad, expected in [
        ("grey.npy", "grey.npy is not binary: image 0 holds the value 7"),
        ("small.npy", "small.npy holds images of 27 x 27 (729 pixels); the model codes 784"),
        ("notes.npy", "notes.npy is not a .npy file"),
        ("two.npz", "two.npz holds 2 arrays ('a', 'b'); expected exactly one"),
        ("none.npy", "none.npy does not exist"),
    ]:
        assert expected in _fails(capsys, work, "compress", "good.npy", bad, *FAST)
    for argv, expected in [
        (["--seed", str(2**70)], "--seed 1180591620717411303424 is outside 0 to 2^64 - 1"),
        (["-o", "no/x.bbz"], "directory no does not exist"),
        (["good.npy", "-o", "x.bbz"], "-o names one output, but there are 2 inputs"),
        (["--rm", "--no-verify"], "--rm deletes an input only after its output is verified"),
        (["good.npy", "-c"], "only one input can be written to stdout"),
    ]:
        line = _fails(capsys, work, "compress", "good.npy", *argv, *FAST)
        assert expected in line, line
    assert "no input files" in _fails(capsys, work, "compress", *FAST)
    assert main(["compress", "good.npy", "--frame-images", "0"]) == 2  # argparse's usage error
    assert "--frame-images: expects a positive integer" in capsys.readouterr().err
    Path("good.npy.bbz").write_bytes(b"old")
    assert "good.npy.bbz already exists (use --force" in _fails(
        capsys, work, "compress", "good.npy", *FAST
    )
    assert "good.npy does not end in .bbz" in _fails(capsys, work, "decompress", "good.npy")


def test_gpu_without_cuda_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    np.save("good.npy", _images(6))
    line = _fails(capsys, work, "compress", "good.npy", "--gpu", "0", *FAST)
    assert "--gpu 0: CUDA is not available here" in line
    Path("x.bbz").write_bytes(b"whatever")
    assert "CUDA is not available" in _fails(capsys, work, "decompress", "x.bbz", "--gpu", "0")


def test_force_overwrites_and_flat_images_need_an_array_output(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = _images(6, "uint8", flat=True)
    np.save("flat.npy", x)
    Path("flat.npy.bbz").write_bytes(b"old")
    assert main(["compress", "flat.npy", "-f", *FAST]) == 0
    os.rename("flat.npy.bbz", "flat.bbz")
    capsys.readouterr()
    line = _fails(capsys, work, "decompress", "flat.bbz")  # default output "flat": a PNG folder
    assert "a folder of PNGs needs 2-D images, these are 784" in line and "-o flat.npy" in line
    Path("flat.npy").write_bytes(b"keep")
    assert main(["decompress", "flat.bbz", "-o", "flat.npy", "-f"]) == 0
    np.testing.assert_array_equal(np.load("flat.npy"), x)


def test_result_lines_fit_80_columns_for_deep_paths(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = work.joinpath(*(["a-rather-long-folder-name"] * 6))
    deep.mkdir(parents=True)
    source = deep / "images-with-a-long-name.npy"
    np.save(source, _images(6))
    assert main(["compress", str(source), *FAST]) == 0
    assert main(["decompress", f"{source}.bbz", "-o", str(deep / "back.npy")]) == 0
    assert main(["test", f"{source}.bbz"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(str(source)) > 80 and len(out) >= 3
    assert all(len(line) <= 80 for line in out), [line for line in out if len(line) > 80]


def _bitsback(*args: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    script = shutil.which("bitsback")
    assert script is not None, "the bitsback console script is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "BITSBACK_DEBUG"}
    return subprocess.run(
        [script, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_stdin_to_stdout_pipes(tmp_path: Path) -> None:
    import io

    x = _images(6, "int64")
    buffer = io.BytesIO()
    np.save(buffer, x)
    compressed = _bitsback("compress", "-", *FAST, cwd=tmp_path, stdin=buffer.getvalue())
    assert compressed.returncode == 0, compressed.stderr
    assert compressed.stdout[:5] == b"\x89BBZ\x02"
    assert b"stdout: 6 images" in compressed.stderr  # the result goes to stderr
    decompressed = _bitsback("decompress", "-", "-o", "-", cwd=tmp_path, stdin=compressed.stdout)
    assert decompressed.returncode == 0, decompressed.stderr
    back = np.load(io.BytesIO(decompressed.stdout))
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back, x)
    assert list(tmp_path.iterdir()) == []  # no file named "-", nothing else either
