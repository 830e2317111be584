"""Push and pop whole symbol vectors across the lanes of a message.

A chain codes a vector of ``n`` symbols (the pixels of an image, the dimensions of a
latent). Element ``j`` goes to lane ``j % lanes`` at step ``j // lanes``, so a vector costs
``ceil(n / lanes)`` vector operations instead of ``n``. Pushes run the steps backwards and
pops run them forwards: the stack returns the vector in its natural order.

The distribution is evaluated lazily on pop: each step asks only for the ``lanes``
elements it decodes (``dist[:, lo:hi]``), so no full table is ever built.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["push_symbols", "pop_symbols"]


def _step_mask(
    active: np.ndarray | None, chains: int, lanes: int, used: int
) -> np.ndarray | None:
    """Lanes taking part in a step: active chains x the first ``used`` lanes."""
    if active is None and used == lanes:
        return None
    lane_ok = np.arange(lanes) < used
    chain_ok = np.ones(chains, bool) if active is None else np.asarray(active, bool)
    return chain_ok[:, None] & lane_ok[None, :]


def _pad(a: np.ndarray, lanes: int) -> np.ndarray:
    if a.shape[1] == lanes:
        return a
    out = np.zeros((a.shape[0], lanes), dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def push_symbols(
    message: Message,
    dist: QuantizedDistribution,
    symbols: np.ndarray,
    active: np.ndarray | None = None,
) -> None:
    """Push ``symbols`` (int ``(chains, n)``) distributed as ``dist`` (batch ``(chains, n)``)."""
    chains, lanes = message.shape
    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.ndim != 2 or symbols.shape[0] != chains or dist.batch_shape != symbols.shape:
        raise ValueError(
            f"push_symbols: symbols {symbols.shape} and distribution {dist.batch_shape} "
            f"must both be (chains={chains}, n)"
        )
    start, freq = dist.cdf(symbols)
    n = symbols.shape[1]
    for lo in reversed(range(0, n, lanes)):
        hi = min(lo + lanes, n)
        mask = _step_mask(active, chains, lanes, hi - lo)
        message.push(_pad(start[:, lo:hi], lanes), _pad(freq[:, lo:hi], lanes), dist.prec, mask)


def pop_symbols(
    message: Message, dist: QuantizedDistribution, active: np.ndarray | None = None
) -> np.ndarray:
    """Pop a vector per chain distributed as ``dist`` (batch ``(chains, n)``); int64 ``(chains, n)``."""
    chains, lanes = message.shape
    if len(dist.batch_shape) != 2 or dist.batch_shape[0] != chains:
        raise ValueError(f"pop_symbols: distribution batch {dist.batch_shape} must be (chains={chains}, n)")
    n = dist.batch_shape[1]
    out = np.zeros((chains, n), dtype=np.int64)
    for lo in range(0, n, lanes):
        hi = min(lo + lanes, n)
        mask = _step_mask(active, chains, lanes, hi - lo)
        part = dist[:, lo:hi]
        cf = message.peek(dist.prec, mask)[:, : hi - lo]
        sym = part.ppf(cf)
        start, freq = part.cdf(sym)
        message.commit(_pad(start, lanes), _pad(freq, lanes), dist.prec, mask)
        out[:, lo:hi] = sym
    return out
