"""Push and pop whole symbol vectors across the lanes of a message.

A chain codes a vector of ``n`` symbols (the pixels of an image, the dimensions of a
latent) spread over its lanes, so a vector costs ``ceil(n / lanes)`` rows of lanes
instead of ``n`` steps. At lane offset ``r`` element ``j`` sits at position
``p = r + n - 1 - j``: lane ``p % lanes``, row ``p // lanes`` (pushed last-to-first so that
pops return the vector in order). Rows are pushed upward and popped downward, and a pop
must use the offset of the push it undoes (:func:`lane_offset` says why it moves).

A pop evaluates the distribution lazily: each row asks only for its own elements, so no
full table is ever built. A distribution with a row program
(:meth:`QuantizedDistribution.row_program`) is popped in one compiled loop
(:meth:`Message.code_rows`, chains on numba's threads); any other goes row by row through
numpy (``dist[:, a:b].ppf_interval``). Both give bit-identical messages.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from bitsback_core.ans._kernels import Rows, known_row_ppf
from bitsback_core.ans.message import Message
from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["LaneView", "lane_offset"]


def lane_offset(step: int, lanes: int) -> int:
    """Lane offset of image ``step``: ``step * stride mod lanes``, stride coprime to ``lanes``.

    Why: symbols differ in cost by position (an inactive latent dimension costs nothing
    net, a central pixel more than a border one), so with a fixed layout some lanes would
    lose bits every image and keep drawing initial bits while others grow. The stride is
    the first integer from ``0.618 * lanes`` up that is coprime with ``lanes``, so
    consecutive images land far apart and every offset occurs once per ``lanes`` images.
    """
    if lanes == 1:
        return 0
    stride = max(1, int(0.6180339887 * lanes))
    while math.gcd(stride, lanes) != 1:
        stride += 1
    return (step * stride) % lanes


def _length(
    chains: int,
    push: tuple[QuantizedDistribution, np.ndarray] | None,
    pop: QuantizedDistribution | None,
) -> int:
    """The ``n`` of the ``(chains, n)`` vectors pushed and popped; refuses other shapes."""
    lengths = set()
    if push is not None:
        dist, symbols = push
        if symbols.ndim != 2 or symbols.shape[0] != chains or dist.batch_shape != symbols.shape:
            raise ValueError(
                f"symbols {symbols.shape} and distribution {dist.batch_shape} "
                f"must both be (chains={chains}, n)"
            )
        lengths.add(symbols.shape[1])
    if pop is not None:
        if len(pop.batch_shape) != 2 or pop.batch_shape[0] != chains:
            raise ValueError(f"distribution batch {pop.batch_shape} must be (chains={chains}, n)")
        lengths.add(pop.batch_shape[1])
    if len(lengths) > 1:
        raise ValueError("swap: push and pop distributions differ in length")
    return lengths.pop()


def _code(
    message: Message,
    active: np.ndarray | None,
    offset: int,
    upward: bool,
    push: tuple[QuantizedDistribution, np.ndarray] | None = None,
    pop: QuantizedDistribution | None = None,
) -> np.ndarray:
    """Lay one ``(chains, n)`` vector over rows of lanes (:class:`Rows`) and code it.

    Rows go upward or downward; at each position the element of ``push = (dist, symbols)``
    is pushed, then one of ``pop`` popped. Returns the popped symbols, starts and freqs,
    int64 ``(3, chains, n)``.
    """
    chains, lanes = message.shape
    if push is not None:
        push = push[0], np.asarray(push[1], dtype=np.int64)
    n = _length(chains, push, pop)
    out = np.zeros((3, chains, 0 if pop is None else n), dtype=np.int64)
    if not n:
        return out
    start = freq = np.zeros((0, 0), dtype=np.int64)
    if push is not None:
        start, freq = (_int64(a, (chains, n)) for a in push[0].cdf(push[1]))
    flags = np.ones(chains, dtype=bool)  # writable: numba types read-only arrays apart
    if active is not None:
        flags[:] = active
    offset %= lanes
    high = (offset + n - 1) // lanes
    first, last, step = (0, high, 1) if upward else (high, 0, -1)
    push_prec = 0 if push is None else push[0].prec
    pop_prec = 0 if pop is None else pop.prec
    rows = Rows(lanes, flags, offset, n, first, last, step, pop_prec, start, freq, push_prec, out)
    program = None if pop is None else pop.row_program()
    if pop is not None and program is None:
        _numpy_rows(message, rows, pop)
    else:
        message.code_rows(rows, program)
    return out


def _int64(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    return a if a.shape == shape and a.flags.c_contiguous else np.broadcast_to(a, shape).copy()


def _numpy_rows(message: Message, rows: Rows, dist: QuantizedDistribution) -> None:
    """:meth:`Message.code_rows` for a ``dist`` without a row program, one row at a time.

    Each row is pushed (if ``rows`` pushes); numpy asks ``dist`` for just that row's
    elements' intervals at their lanes' cumulative frequencies, and the kernel pops them as
    known intervals (:func:`~._kernels.known_row_ppf`).
    """
    lanes, end, mask = message.shape[1], rows.offset + rows.n, np.uint64((1 << dist.prec) - 1)
    for row in range(rows.first, rows.last + rows.step, rows.step):
        one = rows._replace(first=row, last=row)
        if rows.push_prec:
            message.code_rows(one._replace(pop_prec=0))
        j = np.arange(end - min(end, (row + 1) * lanes), end - max(rows.offset, row * lanes))
        cf = (message.head[:, end - 1 - j - row * lanes] & mask).astype(np.int64)
        cf[~rows.active] = 0  # as the compiled loop: inactive chains pop nothing
        rows.out[:, :, j] = dist[:, j[0] : j[-1] + 1].ppf_interval(cf)
        message.code_rows(one._replace(push_prec=0), (known_row_ppf, (rows.out,)))


@attrs.frozen
class LaneView:
    """A message bound to one image step's lane offset and active chains: the codec's API.

    Coders read like the algorithm: ``z = io.pop(q); io.push(lik, x); io.push(prior, z)``.
    Every vector is ``(chains, n)``; chains where ``active`` is false are left untouched.
    """

    message: Message
    offset: int = 0
    active: np.ndarray | None = None

    @classmethod
    def for_step(cls, message: Message, step: int, active: np.ndarray | None = None) -> LaneView:
        return cls(message, lane_offset(step, message.shape[1]), active)

    def push(self, dist: QuantizedDistribution, symbols: np.ndarray) -> None:
        """Push ``symbols`` distributed as ``dist``: one ``dist.cdf``, then one compiled loop."""
        _code(self.message, self.active, self.offset, True, push=(dist, symbols))

    def pop(self, dist: QuantizedDistribution) -> np.ndarray:
        """Pop a vector per chain distributed as ``dist``; int64 ``(chains, n)``."""
        return self.pop_intervals(dist)[0]

    def pop_intervals(
        self, dist: QuantizedDistribution
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`pop`, also returning each symbol's ``start`` and ``freq``.

        Coders reuse the intervals (exact log-probabilities, pushing the same symbols back)
        instead of evaluating the distribution again.
        """
        out = _code(self.message, self.active, self.offset, False, pop=dist)
        return out[0], out[1], out[2]

    def swap(
        self,
        push_dist: QuantizedDistribution,
        symbols: np.ndarray,
        pop_dist: QuantizedDistribution,
        reverse: bool = False,
    ) -> np.ndarray:
        """Row by row, push ``symbols`` with ``push_dist`` then pop the same lanes with ``pop_dist``.

        Interleaving matters: pushing a whole vector and then popping a whole vector would
        pop from heads the later pushes changed. Swapping element by element is how BB-CIS
        re-expresses a known cumulative frequency as "its bucket plus bits back".
        ``io.swap(q, z, p, reverse=True)`` undoes ``io.swap(p, c, q)``.
        """
        push = push_dist, symbols
        return _code(self.message, self.active, self.offset, not reverse, push, pop_dist)[0]
