"""One interval per lane, pushed or popped through the message's one compiled path.

The message tests state rANS rules lane by lane; these helpers lay such an operation out
as one row of the codec's layout (:class:`~bitsback_core.ans._kernels.Rows`): lanes
``lo .. hi - 1`` of the chains in ``active``. Element ``j`` of a row sits on lane
``hi - 1 - j``, so the per-lane arrays are reversed into element order.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans._kernels import Rows, known_row_ppf
from bitsback_core.ans.message import Message


def _row(msg: Message, a, lanes: tuple[int, int] | None) -> np.ndarray:  # noqa: ANN001
    lo, hi = lanes or (0, msg.shape[1])
    return np.ascontiguousarray(
        np.broadcast_to(np.asarray(a, np.int64), msg.shape)[:, lo:hi][:, ::-1]
    )


def _layout(msg, active, lanes, pop_prec, start, freq, push_prec) -> Rows:  # noqa: ANN001
    lo, hi = lanes or (0, msg.shape[1])
    flags = np.ones(msg.shape[0], dtype=bool)
    if active is not None:
        flags[:] = active
    out = np.zeros((3, msg.shape[0], hi - lo), dtype=np.int64)
    return Rows(msg.shape[1], flags, lo, hi - lo, 0, 0, 1, pop_prec, start, freq, push_prec, out)


def push(msg: Message, start, freq, prec: int, active=None, lanes=None) -> None:  # noqa: ANN001
    """Push ``[start, start + freq)`` of ``2**prec`` (broadcast to ``msg.shape``) on each lane."""
    rows = _layout(msg, active, lanes, 0, _row(msg, start, lanes), _row(msg, freq, lanes), prec)
    msg.code_rows(rows)


def commit(msg: Message, start, freq, prec: int, active=None, lanes=None) -> None:  # noqa: ANN001
    """Pop the symbol of interval ``[start, start + freq)`` from each lane (it must hold the lane's value)."""
    start = _row(msg, start, lanes)
    known = np.stack([np.zeros_like(start), start, _row(msg, freq, lanes)])
    empty = np.zeros((0, 0), dtype=np.int64)
    msg.code_rows(_layout(msg, active, lanes, prec, empty, empty, 0), (known_row_ppf, (known,)))


def peek(msg: Message, prec: int) -> np.ndarray:
    """Every lane's cumulative frequency at ``prec``: what the next pop decodes, int64 ``msg.shape``."""
    return (msg.head & np.uint64((1 << prec) - 1)).astype(np.int64)
