"""The benchmark suite's cases and settings (a plain module, so test files can import it).

``BITSBACK_BENCH_IMAGES`` (default 2000) and ``BITSBACK_BENCH_ROUNDS`` (default 1) scale
the suite; the bitrate assertions hold for any subset of a few hundred images or more.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.ans import Message
from bitsback_core.compression import ChainLayout
from bitsback_core.pipeline.bench import CoderSpec, LoadedCoder

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
EMNIST = SHARED / "data" / "emnist"

BENCH_IMAGES = int(os.environ.get("BITSBACK_BENCH_IMAGES", "2000"))
BENCH_ROUNDS = int(os.environ.get("BITSBACK_BENCH_ROUNDS", "1"))


@attrs.frozen
class Case:
    """A coder, the multi-chain layout it is timed in, and the paper's net bits/dim for it."""

    spec: CoderSpec
    chains: int
    lanes: int
    paper_net_bpd: float


#: Issue 4's MNIST->MNIST figures, paired with the checkpoint trained with N particles.
CASES: dict[str, Case] = {
    "BB-ELBO": Case(CoderSpec("BitsBackCoder", 1), chains=500, lanes=16, paper_net_bpd=0.2382),
    "BB-IS(50)": Case(CoderSpec("ISBitsBackCoder", 50), chains=40, lanes=64, paper_net_bpd=0.2305),
    "BB-CIS(50)": Case(
        CoderSpec("CISBitsBackCoder", 50), chains=40, lanes=64, paper_net_bpd=0.2303
    ),
}


@attrs.frozen
class Prepared:
    """A case ready to time: the loaded coder, images, layout, ideal rate and encoded message."""

    case: Case
    loaded: LoadedCoder
    x: np.ndarray
    layout: ChainLayout
    ideal_bpd: float
    encoded: Message
