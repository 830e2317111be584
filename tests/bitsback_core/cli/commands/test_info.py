"""``bitsback info`` (header only, no decoding) and ``bitsback test`` (decode, write nothing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import pytest

from bitsback_core.cli.commands.info import lines
from bitsback_core.cli.main import main
from bitsback_core.pipeline.file_info import describe_file

GOLDEN = Path(__file__).resolve().parents[2] / "compression" / "golden"
FRAMES = GOLDEN / "cis5-frames-2x2.bbz"
EXPECTED = json.loads((GOLDEN / "golden.json").read_text())["cis5-frames-2x2"]


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_info_json_matches_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["info", str(FRAMES), "--json", "true"])
    out = capsys.readouterr().out
    assert code == 0, out
    info = json.loads(out)
    values = EXPECTED["values"]
    assert info["format_version"] == 2
    assert info["coder"] == values["coder"] and info["num_particles"] == values["num_particles"]
    assert (info["chains"], info["lanes"]) == (values["chains"], values["lanes"])
    assert info["arithmetic"] == "portable" and info["dtype"] == "|b1"
    assert info["portable_format"] == 1  # written before model format 2 existed
    assert info["num_images"] == 10 and info["image_shape"] == [28, 28]
    assert info["num_frames"] == 3 and info["frame_images"] == EXPECTED["frame_images"]
    assert info["model_name"] == "mnist-iwae5"  # the catalogue name of the checkpoint's folder
    assert len(info["identity"]) == 32 and info["iterative"] is None
    assert info["frame_codecs"] == [0, 0, 0]
    assert info["file_bytes"] == EXPECTED["file_bytes"]
    assert info["header_bytes"] + sum(info["frame_bytes"]) == info["file_bytes"]
    assert info["file_bpd"] == pytest.approx(8 * EXPECTED["file_bytes"] / (10 * 784))


def test_info_text_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(GOLDEN / "is5-iterative.bbz")]) == 0
    out = capsys.readouterr().out
    assert "iterative:   2 steps" in out and "1 chains x 1 lanes" in out
    assert "arithmetic:  portable (model format 1)" in out
    assert main(["info", str(GOLDEN / "is5-iterative-format2.bbz")]) == 0
    assert "arithmetic:  portable (model format 2)" in capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert main(["info", str(FRAMES)]) == 0
    out = capsys.readouterr().out
    assert "frames:      3 of up to 4 images" in out and "dtype |b1" in out
    assert f"{8 * EXPECTED['file_bytes'] / (10 * 784):.4f} bits/dim" in out
    assert "codecs:      bits-back, bits-back, bits-back" in out


def test_info_text_fits_80_columns_for_deep_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6))
    deep.mkdir(parents=True)
    target = deep / "is5-iterative.bbz"
    shutil.copyfile(GOLDEN / "is5-iterative.bbz", target)
    assert len(str(target)) > 80
    assert main(["info", str(target)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in out), [line for line in out if len(line) > 80]
    assert out[0].startswith("file:        ...") and out[0].endswith("/is5-iterative.bbz")


def test_info_summarizes_many_frames() -> None:
    info = attrs.evolve(
        describe_file(FRAMES),
        num_frames=12,
        frame_bytes=tuple(range(100, 112)),
        frame_codecs=(0, 1, 2) * 3 + (0,) * 3,
    )
    text = "\n".join(lines(info))
    assert "frame bytes: min 100, max 111, total 1,266" in text
    assert "codecs:      bits-back 6, bz2 3, context 3 frames" in text
    assert all(len(line) <= 80 for line in lines(info))
    few = attrs.evolve(info, num_frames=3, frame_bytes=(1, 2, 3), frame_codecs=(2, 0, 1))
    assert "codecs:      context, bits-back, bz2" in lines(few)


def test_test_decodes_a_golden_file_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / FRAMES.name
    shutil.copy(FRAMES, path)
    before = _listing(tmp_path)
    code = main(["test", str(path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = " ".join(captured.out.split())  # the report may wrap a long path
    assert (
        "OK, 10 images" in report
        and f"{8 * EXPECTED['file_bytes'] / (10 * 784):.4f} bits/dim" in report
    )
    assert _listing(tmp_path) == before


def test_test_refuses_a_damaged_last_frame(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = bytearray(FRAMES.read_bytes())
    data[-1] ^= 0x01  # the last byte belongs to the last frame's message
    path = tmp_path / "damaged.bbz"
    path.write_bytes(bytes(data))
    before = _listing(tmp_path)
    code = main(["test", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:")
    assert "frame 2 of 3 fails its checksum" in errors[0]
    assert _listing(tmp_path) == before
