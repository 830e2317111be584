"""``bitsback bench coders`` and ``bitsback bench baselines``: JSON, tables, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bitsback_core.cli.commands.bench import BASELINE_NAMES
from bitsback_core.cli.main import main
from bitsback_core.pipeline import bench as bench_module
from bitsback_core.pipeline.baselines import BASELINES

SHARED = Path(__file__).resolve().parents[4].parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
DATA = SHARED / "data" / "emnist"


@pytest.fixture
def shared() -> None:
    if not (PAPER.is_dir() and DATA.is_dir()):
        pytest.skip(f"shared checkpoints and data under {SHARED} are absent")


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["bench", *args, "--datadir", str(DATA), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # stdout is one JSON object
    assert isinstance(result, dict)
    return result


def test_baseline_names_match_the_library() -> None:
    assert list(BASELINE_NAMES) == list(BASELINES)


def test_coders_json(capsys: pytest.CaptureFixture[str], shared: None) -> None:
    out = _json(
        capsys,
        "coders",
        "--coders",
        "elbo",
        "is:5",
        "--num_compress",
        "6",
        "--chains",
        "3",
        "--lanes",
        "2",
        "--compare_seed_layout",
        "3",
    )
    assert out["machine"]["cpu_count"] >= 1
    results = out["results"]
    assert [(r["coder"], r["num_particles"]) for r in results] == [
        ("BitsBackCoder", 1),
        ("ISBitsBackCoder", 5),
    ]
    for r in results:
        assert r["decode_ok"] is True
        assert (r["num_images"], r["chains"], r["lanes"], r["device"]) == (6, 3, 2, "cpu")
        assert (r["arithmetic"], r["portable_format"]) == ("portable", 2)
        assert r["encode_images_per_s"] > 0 and r["decode_images_per_s"] > 0
        assert abs(r["net_bpd"] - r["ideal_bpd"]) < 0.03
        assert r["total_bpd"] > r["net_bpd"]
        assert r["layout_comparison"]["num_images"] == 3
    # Each coder got the paper model trained with its own number of particles.
    assert results[0]["checkpoint"].endswith("split=mnist_num=1/model.pt")
    assert results[1]["checkpoint"].endswith("split=mnist_num=5/model.pt")


def test_particles_multiply_bare_coder_names(
    capsys: pytest.CaptureFixture[str], shared: None
) -> None:
    out = _json(
        capsys,
        "coders",
        "--coders",
        "cis",
        "--num_particles",
        "1",
        "5",
        "--num_compress",
        "2",
        "--no_ideal",
    )
    assert [(r["coder"], r["num_particles"]) for r in out["results"]] == [
        ("CISBitsBackCoder", 1),
        ("CISBitsBackCoder", 5),
    ]
    assert all(r["ideal_bpd"] is None for r in out["results"])


def test_coders_table(capsys: pytest.CaptureFixture[str], shared: None) -> None:
    code = main(
        [
            "bench",
            "coders",
            "--coders",
            "elbo",
            "--num_compress",
            "3",
            "--datadir",
            str(DATA),
            "--compare_seed_layout",
            "2",
            "--no_tracemalloc",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for text in (
        "Speed and peak memory",
        "Bits/dim",
        "BitsBackCoder(1)",
        "encode",
        "net-ideal",
        "message",
        "getrusage",
        "in 1x1, difference",
    ):
        assert text in out, text


def test_a_failed_decode_exits_1(
    capsys: pytest.CaptureFixture[str], shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bench_module.decode_dataset

    def flip(*args: Any, **kwargs: Any) -> np.ndarray:
        out = real(*args, **kwargs)
        out[0, 0] ^= 1
        return out

    monkeypatch.setattr(bench_module, "decode_dataset", flip)
    code = main(
        [
            "bench",
            "coders",
            "--coders",
            "elbo",
            "--num_compress",
            "2",
            "--datadir",
            str(DATA),
            "--no_ideal",
        ]
    )
    assert code == 1
    assert "decoded images differ from the input for BitsBackCoder:1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num_particles", "5"], "give --coders too"),
        (["--coders", "is:0"], ">= 1"),
        (["--coders", "nosuchcoder"], "nosuchcoder"),
        (["--coders", "is:7"], "no paper checkpoint for split=mnist num=7"),
        (["--compare_seed_layout", "-1"], "must be >= 0"),
        (["--num_compres", "5"], "did you mean --num_compress"),
    ],
)
def test_coders_bad_input(
    capsys: pytest.CaptureFixture[str], shared: None, args: list[str], message: str
) -> None:
    assert main(["bench", "coders", *args, "--num_compress", "2", "--datadir", str(DATA)]) == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["bench", "coders", "--checkpoint_dir", str(tmp_path), "--num_compress", "2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no paper checkpoint" in err and "available: none" in err


def test_baselines_json(capsys: pytest.CaptureFixture[str], shared: None) -> None:
    out = _json(capsys, "baselines", "--codecs", "gzip", "png", "--num_compress", "5")
    assert (out["num_images"], out["split"]) == (5, "mnist")
    assert [r["codec"] for r in out["results"]] == ["gzip", "PNG"]
    assert all(r["lossless"] is True for r in out["results"])
    assert out["results"][1]["num_files"] == 5


def test_baselines_table(capsys: pytest.CaptureFixture[str], shared: None) -> None:
    assert main(["bench", "baselines", "--num_compress", "4", "--datadir", str(DATA)]) == 0
    out = capsys.readouterr().out
    for text in (
        "Generic codecs on 4",
        "gzip",
        "bz2",
        "lzma",
        "PNG",
        "WebP",
        "1 file/image",
        "np.packbits",
    ):
        assert text in out, text


def test_baselines_unknown_codec(capsys: pytest.CaptureFixture[str], shared: None) -> None:
    assert (
        main(
            [
                "bench",
                "baselines",
                "--codecs",
                "jpeg",
                "--num_compress",
                "2",
                "--datadir",
                str(DATA),
            ]
        )
        == 2
    )
    assert "unknown baseline(s) jpeg" in capsys.readouterr().err


def test_bench_needs_a_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert "coders" in capsys.readouterr().err
