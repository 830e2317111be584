"""Encode a dataset onto one message step by step, and decode it back.

Encoding runs steps ``0 .. T-1``; the stack hands them back in reverse, so decoding runs
``T-1 .. 0`` and the decoder sees exactly the batches (shapes, masks, step seeds) that the
encoder saw.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.coders.interface import Coder
from bitsback_core.compression.layout import ChainLayout

__all__ = ["encode_dataset", "decode_dataset"]

Progress = Callable[[int], None]


def _batch(rows: np.ndarray, chains: int) -> np.ndarray:
    if rows.shape[0] == chains:
        return rows
    out = np.zeros((chains,) + rows.shape[1:], dtype=rows.dtype)
    out[: rows.shape[0]] = rows
    return out


def encode_dataset(
    coder: Coder,
    data: np.ndarray,
    layout: ChainLayout,
    message: Message,
    progress: Progress | None = None,
) -> Message:
    """Push every row of ``data`` (``(num_items, obs_dim)`` ints) onto ``message`` in place."""
    if data.ndim != 2:
        raise ValueError(f"expected images of shape (num_items, obs_dim), got shape {data.shape}")
    if data.shape[0] != layout.num_items:
        raise ValueError(f"layout is for {layout.num_items} images, got {data.shape[0]}")
    if message.shape != (layout.chains, layout.lanes):
        raise ValueError(
            f"message shape {message.shape} does not match layout {(layout.chains, layout.lanes)}"
        )
    for step in range(layout.num_steps):
        rows = np.asarray(data[layout.items(step)], dtype=np.int64)
        coder.encode(message, _batch(rows, layout.chains), step, layout.active(step))
        if progress is not None:
            progress(rows.shape[0])
    return message


def decode_dataset(
    coder: Coder,
    message: Message,
    layout: ChainLayout,
    obs_dim: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """Pop all images off ``message`` (in place) and return them in dataset order."""
    expected = (layout.chains, layout.lanes)
    if message.shape != expected:
        raise ValueError(f"message shape {message.shape} does not match layout {expected}")
    if obs_dim < 1:
        raise ValueError(f"obs_dim must be >= 1, got {obs_dim}")
    out = np.zeros((layout.num_items, obs_dim), dtype=np.uint8)
    for step in reversed(range(layout.num_steps)):
        sl = layout.items(step)
        x = coder.decode(message, step, layout.active(step))
        out[sl] = x[: sl.stop - sl.start]
        if progress is not None:
            progress(sl.stop - sl.start)
    return out
