"""How fast can BB-IS(N) be on this machine? Time the parts no implementation can skip.

Every BB-IS(N) or BB-CIS(N) image costs, in each direction, N decoder passes (the
importance weights need p(x|z_k) for every particle) and the pixel term of N weights
(N x 784 coin log-probabilities). This script times those two parts alone, for both
arithmetics, on a batch shaped like one coding step of the automatic layout (20 chains x N
particles), and prints the images/s they would allow if nothing else ran: an upper bound
for the whole coder, and the measure to set speed targets against on a given machine.
It also prints the machine's matrix-product rate (the decoder's largest product, float64
and float32), since the network's products are most of the work. Portable arithmetic is
timed in both model formats (1: float64 products; 2: the decoder's hidden products in
float32, ``docs/design.md``).

Usage: ``python examples/coder_bound.py [--particles 50] [--chains 20] [--repeats 40]``
(the paper's ``num=50`` checkpoint under ``--paper``). Figures are best-of-repeats, so
other jobs on the machine inflate them less than they would a mean; note ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bitsback_core.session import CodingSession

_PAPER = Path(__file__).resolve().parents[1].parent / "shared/checkpoints/mcbits-paper"


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls (after one untimed call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gemm_rate(dtype: torch.dtype, rows: int, repeats: int) -> float:
    """GFLOP/s of ``(rows x 200) @ (200 x 784)`` plus bias: the decoder's last layer."""
    a, w, b = (torch.randn(*s, dtype=dtype) for s in ((rows, 200), (200, 784), (784,)))
    return 2 * rows * 200 * 784 / best_of(lambda: torch.addmm(b, a, w), repeats) / 1e9


def model_parts(
    arithmetic: str, checkpoint: Path, particles: int, portable_format: int | None = None
) -> tuple[object, int]:
    session = CodingSession.open(
        model=str(checkpoint),
        coder="ISBitsBackCoder",
        num_particles=particles,
        arithmetic=arithmetic,
        portable_format=portable_format,
    )
    return session.components.model, session.config.cond_mprec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--particles", type=int, default=50)
    p.add_argument("--chains", type=int, default=20)
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--paper", type=Path, default=_PAPER)
    args = p.parse_args()
    rows = args.chains * args.particles
    checkpoint = args.paper / f"train_bin_emnist_split=mnist_num={args.particles}/train_config.yml"
    print(f"load average {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    for dtype in (torch.float64, torch.float32):
        print(
            f"product {rows} x 200 x 784, {dtype}: {gemm_rate(dtype, rows, args.repeats):.1f} GFLOP/s"
        )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(args.chains, 784))
    for arithmetic, version in (("portable", 1), ("portable", 2), ("float", None)):
        model, prec = model_parts(arithmetic, checkpoint, args.particles, version)
        label = arithmetic if version is None else f"{arithmetic} (model format {version})"
        z = rng.normal(size=(rows, 50))
        if arithmetic == "portable":
            z = np.rint(z * 2**20).astype(np.int64)  # LATENT_BITS fixed point
        net = best_of(lambda: model.likelihood(z, prec), args.repeats)  # type: ignore[attr-defined]
        coins = model.likelihood(z, prec)  # type: ignore[attr-defined]
        weights = best_of(
            lambda: model.likelihood(z, prec).sum_log2_rows(x, args.particles), args.repeats
        )  # type: ignore[attr-defined]
        per_image = weights / args.chains
        print(
            f"{label}: decoder passes {1e3 * net:.2f} ms, with the pixel term of the "
            f"weights {1e3 * weights:.2f} ms per {args.chains} images x {args.particles} particles "
            f"-> at most {1 / per_image:,.0f} images/s per direction ({type(coins).__name__})"
        )


if __name__ == "__main__":
    main()
