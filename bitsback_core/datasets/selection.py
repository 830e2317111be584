"""Choosing which images to code: a seeded subset, the same on every run and machine."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["subset_indices"]


def subset_indices(n_total: int, num: int, seed: int) -> np.ndarray:
    """``num`` distinct indices of ``range(n_total)``, sorted, drawn with ``seed``.

    ``num >= n_total`` selects everything in order (the seed's ``--num_compress 10000``).
    """
    for name, value in (("n_total", n_total), ("num", num), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n_total < 0:
        raise ValueError(f"n_total must be >= 0, got {n_total}")
    if num <= 0:
        raise ValueError(f"the number of images to select must be positive, got {num}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if num >= n_total:
        return np.arange(n_total, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(seed))
    return np.sort(rng.choice(n_total, size=num, replace=False)).astype(np.int64)
