"""Push and pop whole symbol vectors across the lanes of a message.

A chain codes a vector of ``n`` symbols (the pixels of an image, the dimensions of a
latent) spread over its lanes, so a vector costs ``ceil(n / lanes)`` vector operations
instead of ``n``.

Layout of one vector at lane offset ``r``: element ``j`` gets position
``p = r + n - 1 - j`` (pushed last-to-first so that pops return the vector in order),
lane ``p % lanes``, row ``p // lanes``. Rows are pushed in increasing order and popped in
decreasing order; within a row every lane is distinct, so each row is one
:meth:`Message.push` / :meth:`Message.commit`. A pop must use the offset of the push it
undoes.

Why offsets: symbols differ in cost by position (an inactive latent dimension costs
nothing net, a central pixel more than a border one), so a fixed layout would make some
lanes lose bits every image and keep drawing initial bits while others grow. Coders
shift the layout per image with :func:`lane_offset`, which cycles through every offset
once per ``lanes`` images, so each lane carries the same load over a cycle.

The distribution is evaluated lazily on pop: each row asks only for its own elements, so
no full table is ever built. Distributions with a row program
(:meth:`QuantizedDistribution.row_program`) are popped in one compiled loop
(:meth:`Message.code_rows`, chains on numba's threads); the others go row by row through
numpy (``dist[:, a:b].ppf_interval``). Both paths give bit-identical messages.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from bitsback_core.ans._kernels import Rows
from bitsback_core.ans.message import Message
from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = [
    "LaneView",
    "lane_offset",
    "pop_intervals",
    "pop_symbols",
    "push_symbols",
    "swap_symbols",
]


def lane_offset(step: int, lanes: int) -> int:
    """Lane offset of image ``step``: ``step * stride mod lanes``, stride coprime to ``lanes``.

    The stride is the first integer from ``0.618 * lanes`` up that is coprime with
    ``lanes``, so consecutive images land far apart and every offset occurs once per cycle.
    """
    if lanes == 1:
        return 0
    stride = max(1, int(0.6180339887 * lanes))
    while math.gcd(stride, lanes) != 1:
        stride += 1
    return (step * stride) % lanes


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


def _rows(
    message: Message,
    n: int,
    active: np.ndarray | None,
    offset: int,
    upward: bool,
    pop_prec: int = 0,
    push: tuple[QuantizedDistribution, np.ndarray] | None = None,
) -> Rows:
    """One vector's :class:`Rows`: rows upward (pushes, forward swaps) or downward (pops)."""
    chains, lanes = message.shape
    offset %= lanes
    high = (offset + n - 1) // lanes
    start = freq = np.zeros((0, 0), dtype=np.int64)
    if push is not None:
        start, freq = (_int64(a, (chains, n)) for a in push[0].cdf(push[1]))
    flags = np.ones(chains, dtype=bool)  # writable: numba types read-only arrays apart
    if active is not None:
        flags[:] = active
    order = (0, high, 1) if upward else (high, 0, -1)
    push_prec = 0 if push is None else push[0].prec
    out = np.zeros((3, chains, n if pop_prec else 0), dtype=np.int64)
    return Rows(lanes, flags, offset, n, *order, pop_prec, start, freq, push_prec, out)


def _int64(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    return a if a.shape == shape and a.flags.c_contiguous else np.broadcast_to(a, shape).copy()


def _numpy_rows(message: Message, rows: Rows, dist: QuantizedDistribution) -> None:
    """:meth:`Message.code_rows` for a ``dist`` without a row program: numpy, row by row.

    Each row pushes (if ``rows`` pushes) on its lanes, peeks them, asks ``dist`` for just
    its elements' intervals and commits them.
    """
    chains, lanes = message.shape
    end = rows.offset + rows.n
    for row in range(rows.first, rows.last + rows.step, rows.step):
        lo, hi = (
            max(rows.offset, row * lanes) - row * lanes,
            min(end, (row + 1) * lanes) - row * lanes,
        )
        j_lo, j_hi = end - row * lanes - hi, end - row * lanes - lo  # lanes hi - 1 .. lo
        mask = np.zeros((chains, lanes), dtype=bool)
        mask[:, lo:hi] = rows.active[:, None]

        def place(values: np.ndarray) -> np.ndarray:
            out = np.zeros((chains, lanes), dtype=np.int64)
            out[:, lo:hi] = values[:, ::-1]
            return out

        if rows.push_prec:
            pushed = rows.push_start[:, j_lo:j_hi], rows.push_freq[:, j_lo:j_hi]
            message.push(place(pushed[0]), place(pushed[1]), rows.push_prec, mask)
        cf = message.peek(dist.prec, mask)[:, lo:hi][:, ::-1]
        rows.out[:, :, j_lo:j_hi] = found = dist[:, j_lo:j_hi].ppf_interval(cf)
        message.commit(place(found[1]), place(found[2]), dist.prec, mask)


def _code(message: Message, rows: Rows, dist: QuantizedDistribution | None) -> np.ndarray:
    """Run ``rows`` popping ``dist`` (None: a push): compiled when it has a row program."""
    if not rows.n:
        return rows.out
    program = dist.row_program() if dist is not None else None
    if dist is not None and program is None:
        _numpy_rows(message, rows, dist)
    else:
        message.code_rows(rows, program)
    return rows.out


def push_symbols(
    message: Message,
    dist: QuantizedDistribution,
    symbols: np.ndarray,
    active: np.ndarray | None = None,
    offset: int = 0,
) -> None:
    """Push ``symbols`` (int ``(chains, n)``) distributed as ``dist`` (batch ``(chains, n)``).

    The intervals come from one ``dist.cdf`` of the whole vector; one compiled loop then
    pushes them, each lane receiving its positions in row order.
    """
    symbols = _check_push(message, dist, symbols)
    if symbols.shape[1]:
        _code(
            message,
            _rows(message, symbols.shape[1], active, offset, True, 0, (dist, symbols)),
            None,
        )


def pop_symbols(
    message: Message,
    dist: QuantizedDistribution,
    active: np.ndarray | None = None,
    offset: int = 0,
) -> np.ndarray:
    """Pop a vector per chain distributed as ``dist`` (batch ``(chains, n)``); int64 ``(chains, n)``."""
    return pop_intervals(message, dist, active, offset)[0]


def pop_intervals(
    message: Message,
    dist: QuantizedDistribution,
    active: np.ndarray | None = None,
    offset: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pop_symbols`, also returning each symbol's ``start`` and ``freq``.

    Coders reuse the intervals (exact log-probabilities, pushing the same symbols back)
    instead of evaluating the distribution again.
    """
    n = _check_pop(message, dist)
    out = _code(message, _rows(message, n, active, offset, False, dist.prec), dist)
    return out[0], out[1], out[2]


def swap_symbols(
    message: Message,
    push_dist: QuantizedDistribution,
    symbols: np.ndarray,
    pop_dist: QuantizedDistribution,
    active: np.ndarray | None = None,
    reverse: bool = False,
    offset: int = 0,
) -> np.ndarray:
    """Row by row, push ``symbols`` with ``push_dist`` then pop the same lanes with ``pop_dist``.

    Interleaving matters: pushing a whole vector and then popping a whole vector would
    pop from heads the later pushes changed. Swapping element by element is how BB-CIS
    re-expresses a known cumulative frequency as "its bucket plus bits back".
    ``swap_symbols(m, q, z, p, reverse=True)`` undoes ``swap_symbols(m, p, c, q)``.
    """
    symbols = _check_push(message, push_dist, symbols)
    n = symbols.shape[1]
    if _check_pop(message, pop_dist) != n:
        raise ValueError("swap_symbols: push and pop distributions differ in length")
    push = (push_dist, symbols)
    return _code(
        message, _rows(message, n, active, offset, not reverse, pop_dist.prec, push), pop_dist
    )[0]


@attrs.frozen
class LaneView:
    """A message bound to one image step's lane offset and active chains.

    Coders read like the algorithm: ``z = io.pop(q); io.push(lik, x); io.push(prior, z)``.
    """

    message: Message
    offset: int = 0
    active: np.ndarray | None = None

    @classmethod
    def for_step(cls, message: Message, step: int, active: np.ndarray | None = None) -> LaneView:
        return cls(message, lane_offset(step, message.shape[1]), active)

    def push(self, dist: QuantizedDistribution, symbols: np.ndarray) -> None:
        push_symbols(self.message, dist, symbols, self.active, self.offset)

    def pop(self, dist: QuantizedDistribution) -> np.ndarray:
        return pop_symbols(self.message, dist, self.active, self.offset)

    def pop_intervals(
        self, dist: QuantizedDistribution
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pop_intervals(self.message, dist, self.active, self.offset)

    def swap(
        self,
        push_dist: QuantizedDistribution,
        symbols: np.ndarray,
        pop_dist: QuantizedDistribution,
        reverse: bool = False,
    ) -> np.ndarray:
        return swap_symbols(
            self.message, push_dist, symbols, pop_dist, self.active, reverse, self.offset
        )
