"""The causal pixel template of the context VAE, in torch (training) and numba (coding).

A pixel's *context* is the number whose bit ``t`` is the pixel at offset ``OFFSETS[t]``
(row, column) from it, 0 outside the image. Every offset points to a pixel that comes
earlier in raster order, so a decoder that pops the pixels of an image in raster order
knows each pixel's context before it pops it; an encoder knows them all at once. The
template is JBIG's idea (two rows above and the pixels to the left) with twelve pixels;
the model adds a learned logit per context value to the VAE decoder's logit.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["HEIGHT", "OFFSETS", "WIDTH", "NUM_CONTEXTS", "context_at", "context_index", "contexts"]

HEIGHT = 28
WIDTH = 28
#: ``(row, column)`` offsets of the template; bit ``t`` of a context is the pixel at ``OFFSETS[t]``.
OFFSETS = np.array(
    [
        (0, -1), (0, -2), (0, -3), (-1, -2), (-1, -1), (-1, 0),
        (-1, 1), (-1, 2), (-2, -1), (-2, 0), (-2, 1), (-1, -3),
    ],
    dtype=np.int64,
)  # fmt: skip
NUM_CONTEXTS = 1 << len(OFFSETS)
_PAD_TOP = int(-OFFSETS[:, 0].min())
_PAD_LEFT = int(-OFFSETS[:, 1].min())
_PAD_RIGHT = int(OFFSETS[:, 1].max())


def context_index(x: torch.Tensor) -> torch.Tensor:
    """Contexts (int64, shape ``x.shape``) of binary float images ``x`` of shape ``(..., 784)``."""
    lead = x.shape[:-1]
    img = x.reshape(-1, HEIGHT, WIDTH)
    padded = F.pad(img, (_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, 0))
    out = torch.zeros(img.shape, dtype=torch.int64, device=x.device)
    for t, (dy, dx) in enumerate(OFFSETS.tolist()):
        top, left = _PAD_TOP + dy, _PAD_LEFT + dx
        out |= (padded[:, top : top + HEIGHT, left : left + WIDTH] != 0).long() << t
    return out.reshape(*lead, HEIGHT * WIDTH)


@numba.njit(nogil=True, cache=True, inline="always")
def context_at(x, p, offsets):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Context of pixel ``p`` (raster index) of the flat binary image ``x``; reads only pixels before ``p``."""
    r = p // WIDTH
    c = p - r * WIDTH
    k = np.int64(0)
    for t in range(offsets.shape[0]):
        rr = r + offsets[t, 0]
        cc = c + offsets[t, 1]
        if rr >= 0 and cc >= 0 and cc < WIDTH and x[rr * WIDTH + cc] != 0:
            k |= np.int64(1) << t
    return k


@numba.njit(nogil=True, cache=True)
def _contexts(x, offsets):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, n = x.shape
    out = np.empty((rows, n), dtype=np.int64)
    for r in range(rows):
        for p in range(n):
            out[r, p] = context_at(x[r], p, offsets)
    return out


def contexts(x: np.ndarray) -> np.ndarray:
    """Contexts (int64 ``(rows, 784)``) of binary images ``x`` (``(rows, 784)``), as :func:`context_index`."""
    x = np.ascontiguousarray(x)
    if x.ndim != 2 or x.shape[1] != HEIGHT * WIDTH:
        raise ValueError(f"images must have shape (rows, {HEIGHT * WIDTH}), got {x.shape}")
    return _contexts(x, OFFSETS)
