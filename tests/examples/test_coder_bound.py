"""examples/coder_bound.py runs and prints a bound for each arithmetic (not a speed check)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT.parent / "shared" / "checkpoints" / "mcbits-paper"


@pytest.mark.skipif(
    not (CKPT / "train_bin_emnist_split=mnist_num=5").is_dir(),
    reason="the paper's num=5 checkpoint (../shared/checkpoints/mcbits-paper) is absent",
)
def test_prints_both_arithmetics_and_product_rates() -> None:
    args = ["--particles", "5", "--chains", "2", "--repeats", "1", "--paper", str(CKPT)]
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "coder_bound.py"), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(re.findall(r"GFLOP/s", out)) == 2
    for arithmetic in ("portable", "float"):
        line = next(s for s in out.splitlines() if s.startswith(arithmetic))
        assert re.search(r"at most [\d,]+ images/s per direction \(Bernoulli\)", line), line
