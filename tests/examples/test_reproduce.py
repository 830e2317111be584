"""The reproduction on a small subset: the paper's qualitative results and the report script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bitsback_core.config import Config
from bitsback_core.pipeline.run import run_compression
from bitsback_core.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CKPT = SHARED / "checkpoints" / "mcbits-paper"

pytestmark = pytest.mark.skipif(not CKPT.is_dir(), reason="../shared/checkpoints is absent")


def run(coder: str, n: int, ckpt: int, num: int, lanes: int, **extra) -> dict:
    config = Config.from_mapping(
        dict(
            coder=coder,
            num_particles=n,
            train_config=str(
                CKPT / f"train_bin_emnist_split=mnist_num={ckpt}" / "train_config.yml"
            ),
            datadir=str(SHARED / "data" / "emnist"),
            num_compress=num,
            chains=1,
            lanes=lanes,
            **extra,
        )
    )
    result = run_compression(config, load_registry())
    assert result.decode_ok
    return result.as_dict()


@pytest.fixture(scope="module")
def small() -> dict[str, dict]:
    return {
        "elbo": run("BitsBackCoder", 1, 1, 100, 16),
        "is5": run("ISBitsBackCoder", 5, 5, 100, 16),
        "is50": run("ISBitsBackCoder", 50, 50, 100, 16),
    }


def test_net_rate_tracks_the_ideal_rate(small: dict[str, dict]) -> None:
    for result in small.values():
        assert abs(result["net_bpd"] - result["ideal_bpd"]) <= 0.002


def test_more_particles_code_better(small: dict[str, dict]) -> None:
    assert small["is50"]["net_bpd"] < small["is5"]["net_bpd"] < small["elbo"]["net_bpd"]


def test_net_rates_near_the_paper(small: dict[str, dict]) -> None:
    # 100 images move the mean by ~0.006 bits/dim; the paper's 500-image figures.
    for name, paper in [("elbo", 0.2382), ("is5", 0.2335), ("is50", 0.2305)]:
        assert abs(small[name]["net_bpd"] - paper) <= 0.015, (name, small[name]["net_bpd"])


def test_coupled_particles_cut_the_initial_bits() -> None:
    """BB-CIS(50) total far below BB-IS(50) total in the seed's one-lane setting."""
    is50 = run("ISBitsBackCoder", 50, 50, 20, 1)
    cis50 = run("CISBitsBackCoder", 50, 50, 20, 1)
    assert cis50["initial_bits"] < is50["initial_bits"] / 5
    assert cis50["total_bpd"] < is50["total_bpd"] - 0.1


def test_report_renders_cached_results(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "examples" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    portable = next(
        c for c in module.cells(False) if c["table"] == 1 and c["arithmetic"] == "portable"
    )
    floating = next(
        c for c in module.cells(False) if c["table"] == 1 and c["arithmetic"] == "float"
    )
    fake = dict(net_bpd=0.25, ideal_bpd=0.249, total_bpd=0.26, num_compress=500, decode_ok=True)
    fake_float = dict(fake, net_bpd=0.2497)
    text = module.report(
        {module.key(portable): fake, module.key(floating): fake_float}, "../shared", False
    )
    assert (
        "| BB-ELBO | mnist→mnist | 0.2382 | 0.2500 | 0.2497 | +0.0003 | 0.2490 | +0.0010 | +0.0118 |"
        in text
    )
    assert "not run" in text
    assert "bitsback run --train_config ../shared/checkpoints/mcbits-paper/" in text
