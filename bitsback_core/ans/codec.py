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

__all__ = ["push_symbols", "pop_symbols", "swap_symbols"]


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


def _check_push(message: Message, dist: QuantizedDistribution, symbols: np.ndarray) -> np.ndarray:
    chains = message.shape[0]
    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.ndim != 2 or symbols.shape[0] != chains or dist.batch_shape != symbols.shape:
        raise ValueError(
            f"symbols {symbols.shape} and distribution {dist.batch_shape} "
            f"must both be (chains={chains}, n)"
        )
    return symbols


def _check_pop(message: Message, dist: QuantizedDistribution) -> int:
    chains = message.shape[0]
    if len(dist.batch_shape) != 2 or dist.batch_shape[0] != chains:
        raise ValueError(f"distribution batch {dist.batch_shape} must be (chains={chains}, n)")
    return dist.batch_shape[1]


def _pop_step(
    message: Message, dist: QuantizedDistribution, lo: int, hi: int, active: np.ndarray | None
) -> np.ndarray:
    """Pop elements ``lo:hi`` of every chain's vector (one lane step)."""
    chains, lanes = message.shape
    mask = _step_mask(active, chains, lanes, hi - lo)
    part = dist[:, lo:hi]
    cf = message.peek(dist.prec, mask)[:, : hi - lo]
    sym = part.ppf(cf)
    start, freq = part.cdf(sym)
    message.commit(_pad(start, lanes), _pad(freq, lanes), dist.prec, mask)
    return sym


def push_symbols(
    message: Message,
    dist: QuantizedDistribution,
    symbols: np.ndarray,
    active: np.ndarray | None = None,
) -> None:
    """Push ``symbols`` (int ``(chains, n)``) distributed as ``dist`` (batch ``(chains, n)``)."""
    chains, lanes = message.shape
    symbols = _check_push(message, dist, symbols)
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
    n = _check_pop(message, dist)
    out = np.zeros((chains, n), dtype=np.int64)
    for lo in range(0, n, lanes):
        hi = min(lo + lanes, n)
        out[:, lo:hi] = _pop_step(message, dist, lo, hi, active)
    return out


def swap_symbols(
    message: Message,
    push_dist: QuantizedDistribution,
    symbols: np.ndarray,
    pop_dist: QuantizedDistribution,
    active: np.ndarray | None = None,
    reverse: bool = False,
) -> np.ndarray:
    """Lane step by lane step, push ``symbols`` with ``push_dist`` then pop with ``pop_dist``.

    Interleaving matters: pushing a whole vector and then popping a whole vector would
    pop from a head the later pushes changed. Swapping element by element is how BB-CIS
    re-expresses a known cumulative frequency as "its bucket plus bits back".
    ``swap_symbols(m, q, z, p, reverse=True)`` undoes ``swap_symbols(m, p, c, q)``.
    """
    chains, lanes = message.shape
    symbols = _check_push(message, push_dist, symbols)
    n = symbols.shape[1]
    if _check_pop(message, pop_dist) != n:
        raise ValueError("swap_symbols: push and pop distributions differ in length")
    out = np.zeros((chains, n), dtype=np.int64)
    starts = list(range(0, n, lanes))
    for lo in reversed(starts) if reverse else starts:
        hi = min(lo + lanes, n)
        mask = _step_mask(active, chains, lanes, hi - lo)
        start, freq = push_dist[:, lo:hi].cdf(symbols[:, lo:hi])
        message.push(_pad(start, lanes), _pad(freq, lanes), push_dist.prec, mask)
        out[:, lo:hi] = _pop_step(message, pop_dist, lo, hi, active)
    return out
