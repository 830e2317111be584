"""Encode a dataset onto one message step by step, and decode it back.

Encoding runs steps ``0 .. T-1``; the stack hands them back in reverse, so decoding runs
``T-1 .. 0`` and the decoder sees exactly the batches (shapes, masks, step seeds) that the
encoder saw.

Chain groups: chains are independent streams, so with ``groups > 1`` the chains are split
into that many contiguous groups (:meth:`Message.chains`), each coded through all its
steps on a thread of its own and written back at the end. Only for a coder whose
:attr:`~bitsback_core.coders.interface.Coder.chains_independent` holds: then every group
sees its chains' exact values and lanes, and the bytes are those of coding all chains
together. Why threads: the compiled kernels release the GIL, and two groups that never
wait for each other keep two cores busy where one batch alternates between the network's
threaded products and single-threaded kernels (measured in docs/performance.md,
"Chain groups on threads").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import numba
import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.coders.interface import Coder
from bitsback_core.compression.layout import ChainLayout

__all__ = ["encode_dataset", "decode_dataset", "group_bounds"]

Progress = Callable[[int], None]
#: ``work(message, lo, hi, stop)``: code chains ``lo .. hi - 1``, held by ``message``,
#: returning early once ``stop`` is set.
_Work = Callable[[Message, int, int, threading.Event], None]


def _batch(rows: np.ndarray, chains: int) -> np.ndarray:
    if rows.shape[0] == chains:
        return rows
    out = np.zeros((chains,) + rows.shape[1:], dtype=rows.dtype)
    out[: rows.shape[0]] = rows
    return out


def group_bounds(chains: int, groups: int) -> list[tuple[int, int]]:
    """``groups`` contiguous chain ranges ``(lo, hi)`` of near-equal size (at most ``chains``)."""
    edges = np.linspace(0, chains, max(1, min(groups, chains)) + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def _step_rows(layout: ChainLayout, step: int, lo: int, hi: int) -> tuple[slice, np.ndarray | None]:
    """Dataset rows of chains ``lo .. hi - 1`` at ``step`` and their mask (None: all active)."""
    first = step * layout.chains
    rows = slice(first + lo, min(first + hi, layout.num_items))
    used = max(0, rows.stop - rows.start)
    return rows, None if used == hi - lo else np.arange(hi - lo) < used


def _in_groups(message: Message, groups: int, work: _Work, progress: Progress | None) -> None:
    """Run ``work`` over chain groups, each on a thread with one numba thread, then put back.

    A failure in one group, or an interrupt here, stops the others at their next step and
    is raised; the message is then unchanged.
    """
    bounds, stop = group_bounds(message.shape[0], groups), threading.Event()
    if len(bounds) == 1:
        work(message, 0, message.shape[0], stop)
        return
    parts = [message.chains(lo, hi) for lo, hi in bounds]

    def run(part: Message, lo: int, hi: int) -> None:
        numba.set_num_threads(1)  # thread-local: the groups are the parallelism
        work(part, lo, hi, stop)

    with ThreadPoolExecutor(len(bounds), thread_name_prefix="bitsback-chains") as pool:
        futures = [pool.submit(run, part, lo, hi) for part, (lo, hi) in zip(parts, bounds)]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            stop.set()
            raise
    for part, (lo, _) in zip(parts, bounds):
        message.put_chains(lo, part)


def _locked(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            progress(n)

    return advance


def encode_dataset(
    coder: Coder,
    data: np.ndarray,
    layout: ChainLayout,
    message: Message,
    progress: Progress | None = None,
    groups: int = 1,
) -> Message:
    """Push every row of ``data`` (``(num_items, obs_dim)`` ints) onto ``message`` in place.

    ``groups > 1`` codes that many chain groups on threads (same bytes) if the coder's
    chains are independent; otherwise all chains are coded together.
    """
    if data.ndim != 2:
        raise ValueError(f"expected images of shape (num_items, obs_dim), got shape {data.shape}")
    if data.shape[0] != layout.num_items:
        raise ValueError(f"layout is for {layout.num_items} images, got {data.shape[0]}")
    if message.shape != (layout.chains, layout.lanes):
        raise ValueError(
            f"message shape {message.shape} does not match layout {(layout.chains, layout.lanes)}"
        )
    advance = _locked(progress) if groups > 1 else progress

    def work(part: Message, lo: int, hi: int, stop: threading.Event) -> None:
        for step in range(layout.num_steps):
            rows, active = _step_rows(layout, step, lo, hi)
            if stop.is_set():
                return
            if rows.stop > rows.start:
                batch = np.asarray(data[rows], dtype=np.int64)
                coder.encode(part, _batch(batch, hi - lo), step, active)
                if advance is not None:
                    advance(batch.shape[0])

    _in_groups(message, groups if groups > 1 and coder.chains_independent else 1, work, advance)
    return message


def decode_dataset(
    coder: Coder,
    message: Message,
    layout: ChainLayout,
    obs_dim: int,
    progress: Progress | None = None,
    groups: int = 1,
) -> np.ndarray:
    """Pop all images off ``message`` (in place) and return them in dataset order.

    ``groups`` as for :func:`encode_dataset` (the encoder's choice need not match).
    """
    expected = (layout.chains, layout.lanes)
    if message.shape != expected:
        raise ValueError(f"message shape {message.shape} does not match layout {expected}")
    if obs_dim < 1:
        raise ValueError(f"obs_dim must be >= 1, got {obs_dim}")
    out = np.zeros((layout.num_items, obs_dim), dtype=np.uint8)
    advance = _locked(progress) if groups > 1 else progress

    def work(part: Message, lo: int, hi: int, stop: threading.Event) -> None:
        for step in reversed(range(layout.num_steps)):
            rows, active = _step_rows(layout, step, lo, hi)
            if stop.is_set():
                return
            if rows.stop > rows.start:
                x = coder.decode(part, step, active)
                out[rows] = x[: rows.stop - rows.start]
                if advance is not None:
                    advance(rows.stop - rows.start)

    _in_groups(message, groups if groups > 1 and coder.chains_independent else 1, work, advance)
    return out
