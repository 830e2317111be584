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
(:meth:`QuantizedDistribution.row_program`) are popped in compiled loops, each chain on its
own until it needs words from the message's generator; the others go row by row through
numpy (``dist[:, a:b].ppf_interval``). Both paths give bit-identical messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np

from bitsback_core.ans._kernels import push_vector
from bitsback_core.ans._rows import pop_kernel
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


def _rows(offset: int, n: int, lanes: int) -> Iterator[tuple[int, int, int, int]]:
    """``(lane_lo, lane_hi, j_lo, j_hi)`` per row, in push order.

    Lanes ``lane_lo .. lane_hi - 1`` of the row hold elements ``j_hi - 1`` down to ``j_lo``.
    """
    first, last = offset, offset + n  # positions [first, last)
    for row in range(first // lanes, (last - 1) // lanes + 1):
        base = row * lanes
        p_lo, p_hi = max(first, base), min(last, base + lanes)
        # p = r + n - 1 - j  <=>  j = r + n - 1 - p
        yield p_lo - base, p_hi - base, last - p_hi, last - p_lo


def _mask(
    active: np.ndarray | None, chains: int, lanes: int, lo: int, hi: int
) -> np.ndarray | None:
    """Lanes taking part in a row: active chains x lanes ``lo .. hi - 1``."""
    if active is None and lo == 0 and hi == lanes:
        return None
    lane_ok = np.zeros(lanes, bool)
    lane_ok[lo:hi] = True
    chain_ok = np.ones(chains, bool) if active is None else np.asarray(active, bool)
    return chain_ok[:, None] & lane_ok[None, :]


def _place(values: np.ndarray, lanes: int, lo: int, hi: int) -> np.ndarray:
    """Values of elements ``j_lo .. j_hi - 1`` (increasing j) onto lanes ``hi - 1 .. lo``."""
    if lo == 0 and hi == lanes:
        return values[:, ::-1]
    out = np.zeros((values.shape[0], lanes), dtype=values.dtype)
    out[:, lo:hi] = values[:, ::-1]
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


def _pop_row(
    message: Message,
    dist: QuantizedDistribution,
    row: tuple[int, int, int, int],
    active: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pop one row; returns symbols, starts and freqs of elements ``j_lo .. j_hi - 1``."""
    chains, lanes = message.shape
    lo, hi, j_lo, j_hi = row
    mask = _mask(active, chains, lanes, lo, hi)
    part = dist[:, j_lo:j_hi]
    cf = message.peek(dist.prec, mask)[:, lo:hi][:, ::-1]
    sym, start, freq = part.ppf_interval(cf)
    message.commit(_place(start, lanes, lo, hi), _place(freq, lanes, lo, hi), dist.prec, mask)
    return sym, start, freq


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
    chains, lanes = message.shape
    symbols = _check_push(message, dist, symbols)
    start, freq = dist.cdf(symbols)
    n = symbols.shape[1]
    if n == 0:
        return
    message._check_prec(dist.prec)
    message._reserve(-(-n // lanes), dist.prec)  # a lane holds at most ceil(n / lanes) of them
    status = push_vector(
        message._head,
        message._words,
        message._len,
        message.lprec,
        message.bprec,
        lanes,
        _active(active, chains),
        offset % lanes,
        _int64(start, (chains, n)),
        _int64(freq, (chains, n)),
        dist.prec,
    )
    if status < 0:
        raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")


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
    chains, lanes = message.shape
    n = _check_pop(message, dist)
    out = np.zeros((3, chains, n), dtype=np.int64)
    program = dist.row_program() if n else None
    if program is not None:
        first_row, last_row = (offset % lanes + n - 1) // lanes, (offset % lanes) // lanes
        _compiled_rows(
            message,
            program,
            dist.prec,
            active,
            offset % lanes,
            n,
            out,
            first_row,
            last_row,
            -1,
            None,
        )
        return out[0], out[1], out[2]
    for row in reversed(list(_rows(offset % lanes, n, lanes))):
        out[:, :, row[2] : row[3]] = _pop_row(message, dist, row, active)
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
    chains, lanes = message.shape
    symbols = _check_push(message, push_dist, symbols)
    n = symbols.shape[1]
    if _check_pop(message, pop_dist) != n:
        raise ValueError("swap_symbols: push and pop distributions differ in length")
    out = np.zeros((3, chains, n), dtype=np.int64)
    program = pop_dist.row_program() if n else None
    if program is not None:
        message._check_prec(push_dist.prec)
        start, freq = push_dist.cdf(symbols)
        pushed = (_int64(start, (chains, n)), _int64(freq, (chains, n)), push_dist.prec)
        message._reserve(-(-n // lanes), push_dist.prec)
        low_row, high_row = (offset % lanes) // lanes, (offset % lanes + n - 1) // lanes
        first_row, last_row, step = (high_row, low_row, -1) if reverse else (low_row, high_row, 1)
        _compiled_rows(
            message,
            program,
            pop_dist.prec,
            active,
            offset % lanes,
            n,
            out,
            first_row,
            last_row,
            step,
            pushed,
        )
        return out[0]
    rows = list(_rows(offset % lanes, n, lanes))
    for row in reversed(rows) if reverse else rows:
        lo, hi, j_lo, j_hi = row
        mask = _mask(active, chains, lanes, lo, hi)
        start, freq = push_dist[:, j_lo:j_hi].cdf(symbols[:, j_lo:j_hi])
        message.push(
            _place(start, lanes, lo, hi), _place(freq, lanes, lo, hi), push_dist.prec, mask
        )
        out[0][:, j_lo:j_hi] = _pop_row(message, pop_dist, row, active)[0]
    return out[0]


def _compiled_rows(
    message: Message,
    program: tuple[Any, tuple[Any, ...]],
    prec: int,
    active: np.ndarray | None,
    offset: int,
    n: int,
    out: np.ndarray,
    first_row: int,
    last_row: int,
    step: int,
    pushed: tuple[np.ndarray, np.ndarray, int] | None,
) -> None:
    """Pop (or swap) rows ``first_row .. last_row`` of every chain in compiled loops.

    Each chain runs on its own thread (:mod:`._rows`) until it needs words from the
    generator. Those stops are then served in row
    order, all chains stopped at the earliest such row together, exactly as
    :meth:`Message.commit` serves one row: one draw for the empty stacks in lane order,
    then further refill rounds. So the generator's words land where the row-by-row numpy
    path puts them, and the message is bit-identical to it.
    """
    chains, lanes = message.shape
    message._check_prec(prec)
    ppf, params = program
    flags = _active(active, chains)
    push_start, push_freq, push_prec = pushed if pushed is not None else (_NO_PUSH, _NO_PUSH, 1)
    loop = pop_kernel(ppf)
    run = np.ones(chains, dtype=bool)
    resume = np.full(chains, first_row, dtype=np.int64)
    codes = np.zeros(chains, dtype=np.int64)
    stop = np.zeros(chains, dtype=np.int64)
    counts = np.zeros(chains, dtype=np.int64)
    empties = np.zeros((chains, lanes), dtype=np.int64)
    lower = np.uint64(1 << message.lprec)
    while run.any():
        loop(
            params, message._head, message._words, message._len, message.lprec, message.bprec, lanes,
            flags, offset, n, prec, push_start, push_freq, push_prec, out,
            last_row, step, run, resume, codes, stop, counts, empties,
        )  # fmt: skip
        if (codes < 0).any():
            if (codes == -1).any():
                raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")
            raise ValueError(
                "row program: the interval found does not contain the cumulative frequency"
            )
        waiting = np.flatnonzero(codes == 1)
        run[:] = False
        if not waiting.size:
            return
        row = stop[waiting].max() if step < 0 else stop[waiting].min()
        group = waiting[stop[waiting] == row]
        empty = np.concatenate([empties[c, : counts[c]] for c in group])
        row_lanes = _row_lanes(flags, lanes, offset, n, row, group)
        message._refill(row_lanes[message._head[row_lanes] < lower], empty)
        codes[group] = 0
        if row != last_row:
            run[group] = True
            resume[group] = row + step


def _row_lanes(
    active: np.ndarray, lanes: int, offset: int, n: int, row: int, chains: np.ndarray
) -> np.ndarray:
    """Flat indices, increasing, of the lanes in ``row`` of those ``chains`` that are active."""
    lo = max(offset, row * lanes) - row * lanes
    hi = min(offset + n, (row + 1) * lanes) - row * lanes
    chains = chains[active[chains]]
    return (chains[:, None] * lanes + np.arange(lo, hi)[None, :]).reshape(-1)


def _active(active: np.ndarray | None, chains: int) -> np.ndarray:
    if active is None:
        return np.ones(chains, dtype=bool)
    # A writable copy: numba types read-only arrays apart, so a view would compile (and
    # cache) a second kernel.
    return np.array(np.broadcast_to(np.asarray(active, dtype=bool), (chains,)))


def _int64(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.int64), shape))


_NO_PUSH = np.zeros((0, 0), dtype=np.int64)


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
