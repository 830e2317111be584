"""The model's own bound on a set of images: what an ideal coder with this model would cost.

Bits-back coding with N particles approaches the negative IWAE-N bound (the negative
ELBO for N=1), so ``run``, ``bench`` and ``evaluate`` report it beside the real rates. It
depends only on a :class:`LatentVariableModel`, which is why it lives here rather than
in any one command.
"""

from __future__ import annotations

import math

import numpy as np

from bitsback_core.models.interface import LatentVariableModel

__all__ = ["ideal_bpd"]

LN2 = math.log(2.0)


def ideal_bpd(
    model: LatentVariableModel, x: np.ndarray, num_particles: int, seed: int, batch_size: int = 500
) -> float:
    """Negative IWAE-N bound (the ELBO for N=1) in bits/dim, averaged over the rows of ``x``.

    The particles of the images ``lo..lo+batch_size`` are drawn with ``seed + lo``, so the
    figure is the same for every caller that passes the same seed and batch size.
    """
    total = 0.0
    for lo in range(0, x.shape[0], batch_size):
        log_w = model.log_weights(x[lo : lo + batch_size], num_particles, seed + lo)
        peak = log_w.max(axis=0)
        bound = peak + np.log(np.exp(log_w - peak).mean(axis=0))
        total += float(-bound.sum())
    return total / (x.shape[0] * x.shape[1] * LN2)
