"""Compiled (numba) loops of the context-model bilevel coders (fallback codecs 2 and 3).

Why compiled: every pixel is one adaptive probability and one arithmetic-coder step that
depends on the previous one, so nothing vectorizes; a Python loop would code a few
thousand pixels per second, these loops code millions.

Why integers only: the decoder must rebuild every probability exactly, on any machine.
Every value here is an integer below 2^49 held in int64 (numba's default integer), and
the same code run by the Python interpreter (``NUMBA_DISABLE_JIT=1``) gives the same
results, because no value ever wraps around.

The pieces:

* **context**: the pixels of the template (``TEMPLATE`` in ``fallback.py``: rows up and
  columns across; the current row only to the left) read from an image padded with zeros,
  so out-of-image neighbours are 0; bit ``k`` of the context is template pixel ``k``. The
  loops keep each template row's pixels in a register that slides one column per pixel
  (one read per row instead of one per template pixel);
* **model**: two counts per context (``c0``, ``c1``), the probability of a 0 is
  ``(c0 * 16 + ALPHA) / ((c0 + c1) * 16 + 2 * ALPHA)`` in 16 bits, clamped to
  ``[1, 2^16 - 1]``; after the update, counts above ``LIMIT`` in total are halved
  (rounding up) so the model follows a drifting source;
* **coder**: a carry-propagating range coder over 32-bit ``low``/``range`` (the LZMA
  construction): ``bound = range * p0 >> 16``, renormalized a byte at a time while
  ``range < 2^24``. The encoder's first output byte is always 0 and is not stored; the
  decoder reads exactly the bytes the encoder wrote, so a truncated stream runs out
  (an error) and trailing bytes are left over (an error).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["decode_images", "encode_images"]

PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS
TOP = 1 << 24
MASK32 = (1 << 32) - 1
#: Additive constant of the estimate, in sixteenths of a count (KT's 1/2 would be 8).
ALPHA = 6
#: Total count past which both counts are halved.
LIMIT = 4000

#: ``decode_images`` return codes besides the number of bytes read.
ERR_TRUNCATED = -1
#: The code value left the interval: these bytes were not written by the encoder.
ERR_CORRUPT = -2


@numba.njit(nogil=True, cache=True, inline="always")
def _clamp(p):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """A 16-bit probability kept inside ``[1, 2^16 - 1]``, so both symbols stay codable."""
    if p < 1:
        return 1
    if p > PROB_ONE - 1:
        return PROB_ONE - 1
    return p


@numba.njit(nogil=True, cache=True, inline="always")
def _p0(c0, c1):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return _clamp(((c0 * 16 + ALPHA) << PROB_BITS) // ((c0 + c1) * 16 + 2 * ALPHA))


@numba.njit(nogil=True, cache=True, inline="always")
def _count(c0, c1, bit, limit):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The counts ``c0``, ``c1`` after counting ``bit``; past ``limit`` in total both are
    halved (rounding up), so the model follows a drifting source."""
    if bit:
        c1 += 1
    else:
        c0 += 1
    if c0 + c1 > limit:
        return (c0 + 1) >> 1, (c1 + 1) >> 1
    return c0, c1


@numba.njit(nogil=True, cache=True, inline="always")
def _shift_low(low, cache, cache_size, pos, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Shift the top byte of ``low`` out: settle the cached byte (and any run of 0xFF) once
    a carry can no longer reach it. Returns the new ``(low, cache, cache_size, pos)``; a
    ``pos`` past ``out``'s end (``len(out) + 1``) means ``out`` is too small."""
    if low < 0xFF000000 or low > MASK32:
        carry = low >> 32
        temp = cache
        while True:
            if pos >= 0:
                if pos >= out.shape[0]:
                    return low, cache, cache_size, out.shape[0] + 1
                out[pos] = (temp + carry) & 0xFF
            pos += 1
            temp = 0xFF
            cache_size -= 1
            if cache_size == 0:
                break
        cache = (low >> 24) & 0xFF
    cache_size += 1
    low = (low & 0x00FFFFFF) << 8
    return low, cache, cache_size, pos


@numba.njit(nogil=True, cache=True, inline="always")
def _encoder_start():  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """A fresh encoder: ``(low, range, cache, cache_size, pos)``; ``pos`` starts at -1 so
    that the first byte (always 0) is dropped."""
    return 0, MASK32, 0, 1, -1


@numba.njit(nogil=True, cache=True, inline="always")
def _encode_bit(coder, bit, p0, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The encoder ``coder`` after coding ``bit`` (P(0) = ``p0 / 2^16``) into ``out`` and
    renormalizing; it stops at the first byte that does not fit (:func:`_encoder_full`)."""
    low, rng, cache, cache_size, pos = coder
    bound = (rng * p0) >> PROB_BITS
    if bit:
        low += bound
        rng -= bound
    else:
        rng = bound
    while rng < TOP:
        rng = (rng << 8) & MASK32
        low, cache, cache_size, pos = _shift_low(low, cache, cache_size, pos, out)
        if pos > out.shape[0]:
            break
    return low, rng, cache, cache_size, pos


@numba.njit(nogil=True, cache=True, inline="always")
def _encoder_full(coder, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Whether ``coder`` ran past the end of ``out``."""
    return coder[4] > out.shape[0]


@numba.njit(nogil=True, cache=True, inline="always")
def _encoder_finish(coder, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Flush ``coder``'s last bytes into ``out``: the bytes written, or -1 if ``out`` is too
    small."""
    low, _, cache, cache_size, pos = coder
    for _ in range(5):
        low, cache, cache_size, pos = _shift_low(low, cache, cache_size, pos, out)
        if pos > out.shape[0]:
            return -1
    return pos


@numba.njit(nogil=True, cache=True, inline="always")
def _decoder_start(data):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """A decoder over ``data``: ``(code, range, pos)`` after its first four bytes, ``pos``
    ``ERR_TRUNCATED`` if there are fewer."""
    code = 0
    if data.shape[0] < 4:
        return code, MASK32, ERR_TRUNCATED
    for pos in range(4):
        code = (code << 8) | np.int64(data[pos])
    return code, MASK32, 4


@numba.njit(nogil=True, cache=True, inline="always")
def _decode_bit(code, rng, pos, p0, data):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Decode a bit (P(0) = ``p0 / 2^16``) and renormalize: ``(bit, code, range, pos)``,
    ``pos`` ``ERR_TRUNCATED`` if ``data`` ran out."""
    bound = (rng * p0) >> PROB_BITS
    if code < bound:
        rng = bound
        bit = 0
    else:
        code -= bound
        rng -= bound
        bit = 1
    while rng < TOP:
        if pos >= data.shape[0]:
            return bit, code, rng, ERR_TRUNCATED
        rng = (rng << 8) & MASK32
        code = ((code << 8) | np.int64(data[pos])) & MASK32
        pos += 1
    return bit, code, rng, pos


@numba.njit(nogil=True, cache=True, inline="always")
def _decoder_finish(code, rng, pos):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The bytes read, or ``ERR_CORRUPT`` if the code value left the interval."""
    if code >= rng:
        return ERR_CORRUPT
    return pos


#: Padding codec 2's pages need: rows above, columns each side.
CONTEXT_TOP = 2
CONTEXT_LEFT = 3


@numba.njit(nogil=True, cache=True, inline="always")
def _context_row_start(pad, y):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Codec 2's row registers at the padding column before the page's first column."""
    r2 = 0
    r1 = 0
    for c in range(CONTEXT_LEFT - 3, CONTEXT_LEFT + 2):
        r2 = (r2 >> 1) | (np.int64(pad[y - 2, c]) << 4)
    for c in range(CONTEXT_LEFT - 3, CONTEXT_LEFT + 3):
        r1 = (r1 >> 1) | (np.int64(pad[y - 1, c]) << 5)
    return r2, r1


@numba.njit(nogil=True, cache=True, inline="always")
def _context_slide(pad, y, x, r2, r1, r0):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Move codec 2's row registers to column ``x``; returns them and its 14-bit context.

    ``r2`` holds the row two up's pixels ``x-2 .. x+2`` (``x-2`` its bit 0), ``r1`` the row
    above's ``x-2 .. x+3``, ``r0`` the current row's ``x-3 .. x-1``; in ``TEMPLATE``'s
    order the context is ``r2 | (r1 & 31) << 5 | r0 << 10 | (r1 >> 5) << 13``.
    """
    r2 = (r2 >> 1) | (np.int64(pad[y - 2, x + 2]) << 4)
    r1 = (r1 >> 1) | (np.int64(pad[y - 1, x + 3]) << 5)
    r0 = (r0 >> 1) | (np.int64(pad[y, x - 1]) << 2)
    return r2, r1, r0, r2 | ((r1 & 31) << 5) | (r0 << 10) | ((r1 >> 5) << 13)


@numba.njit(nogil=True, cache=True)
def encode_images(images, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Code ``images`` (``(n, h, w)`` uint8 of 0/1) into ``out``; the bytes written, or -1.

    Each image is a page padded with ``CONTEXT_TOP`` zero rows above and ``CONTEXT_LEFT``
    zero columns each side. -1 means ``out`` was too small (the caller retries with a
    larger buffer).
    """
    n, h, w = images.shape
    top, left = CONTEXT_TOP, CONTEXT_LEFT
    c0 = np.zeros(1 << 14, dtype=np.int64)
    c1 = np.zeros(1 << 14, dtype=np.int64)
    pad = np.zeros((h + top, w + 2 * left), dtype=np.uint8)
    coder = _encoder_start()
    for i in range(n):
        for y in range(h):
            for x in range(w):
                pad[y + top, x + left] = images[i, y, x]
        for y in range(top, top + h):
            r2, r1 = _context_row_start(pad, y)
            r0 = 0
            for x in range(left, left + w):
                r2, r1, r0, ctx = _context_slide(pad, y, x, r2, r1, r0)
                bit = pad[y, x]
                coder = _encode_bit(coder, bit, _p0(c0[ctx], c1[ctx]), out)
                if _encoder_full(coder, out):
                    return -1
                c0[ctx], c1[ctx] = _count(c0[ctx], c1[ctx], bit, LIMIT)
    return _encoder_finish(coder, out)


@numba.njit(nogil=True, cache=True)
def decode_images(data, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Decode ``data`` into ``out`` (``(n, h, w)`` uint8); the bytes read, or an ``ERR_*`` code."""
    n, h, w = out.shape
    top, left = CONTEXT_TOP, CONTEXT_LEFT
    c0 = np.zeros(1 << 14, dtype=np.int64)
    c1 = np.zeros(1 << 14, dtype=np.int64)
    pad = np.zeros((h + top, w + 2 * left), dtype=np.uint8)
    code, rng, pos = _decoder_start(data)
    if pos < 0:
        return pos
    for i in range(n):
        for y in range(top, top + h):
            r2, r1 = _context_row_start(pad, y)
            r0 = 0
            for x in range(left, left + w):
                r2, r1, r0, ctx = _context_slide(pad, y, x, r2, r1, r0)
                bit, code, rng, pos = _decode_bit(code, rng, pos, _p0(c0[ctx], c1[ctx]), data)
                c0[ctx], c1[ctx] = _count(c0[ctx], c1[ctx], bit, LIMIT)
                pad[y, x] = bit
                out[i, y - top, x - left] = bit
                if pos < 0:
                    return pos
    return _decoder_finish(code, rng, pos)


# --- codec 3: two templates, back-off estimate, the frame's images side by side ---------

#: Codec 3's small model: additive constant in sixteenths of a count, and halving limit.
SMALL_ALPHA = 12
SMALL_LIMIT = 4000
#: Codec 3's large model: halving limit, and the pseudo-counts its prior (the small
#: model's estimate) is worth.
LARGE_LIMIT = 1000
PRIOR_COUNTS = 32


@numba.njit(nogil=True, cache=True, inline="always")
def _p0_backoff(c0, c1, s0, s1):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """P(0) in 16 bits: the large context's counts plus ``PRIOR_COUNTS`` pseudo-counts
    spread as the small context's estimate ``ps``."""
    ps = ((s0 * 16 + SMALL_ALPHA) << PROB_BITS) // ((s0 + s1) * 16 + 2 * SMALL_ALPHA)
    return _clamp(((c0 << PROB_BITS) + PRIOR_COUNTS * ps) // (c0 + c1 + PRIOR_COUNTS))


#: Padding codec 3's page needs: rows above, columns each side.
BACKOFF_TOP = 2
BACKOFF_LEFT = 3


@numba.njit(nogil=True, cache=True, inline="always")
def _row_start(pad, y):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The row registers of codec 3's large context just before the page's first column:
    ``r2``, ``r1`` as if at the padding column before it, ``r0`` (its left pixels) 0."""
    r2 = 0
    r1 = 0
    for c in range(BACKOFF_LEFT - 3, BACKOFF_LEFT + 3):
        r2 = (r2 << 1) | np.int64(pad[y - 2, c])
        r1 = (r1 << 1) | np.int64(pad[y - 1, c])
    return r2, r1 & 0x3F


@numba.njit(nogil=True, cache=True, inline="always")
def _slide(pad, y, x, r2, r1, r0):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Move codec 3's row registers to column ``x``; returns them and the 16-bit context.

    ``r2`` holds the row two up's pixels ``x-3 .. x+3`` (``x-3`` its top bit), ``r1`` the
    row above's ``x-2 .. x+3``, ``r0`` the current row's ``x-3 .. x-1``; the context is
    ``r2 | r1 << 7 | r0 << 13`` (bit ``k`` is pixel ``k`` of ``TEMPLATE_LARGE``).
    """
    r2 = ((r2 << 1) | np.int64(pad[y - 2, x + 3])) & 0x7F
    r1 = ((r1 << 1) | np.int64(pad[y - 1, x + 3])) & 0x3F
    r0 = ((r0 << 1) | np.int64(pad[y, x - 1])) & 0x7
    return r2, r1, r0, r2 | (r1 << 7) | (r0 << 13)


@numba.njit(nogil=True, cache=True, inline="always")
def _backoff_start(pad, small_of):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The page size inside ``pad`` and codec 3's zeroed counts: zeros and ones per large
    (16-bit) context, then per small context."""
    small = small_of.max() + 1
    return (
        pad.shape[0] - BACKOFF_TOP,
        pad.shape[1] - 2 * BACKOFF_LEFT,
        np.zeros(1 << 16, dtype=np.int64),
        np.zeros(1 << 16, dtype=np.int64),
        np.zeros(small, dtype=np.int64),
        np.zeros(small, dtype=np.int64),
    )


@numba.njit(nogil=True, cache=True)
def encode_page_backoff(pad, small_of, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Code the page inside ``pad`` (``BACKOFF_TOP`` zero rows above it, ``BACKOFF_LEFT``
    zero columns each side) into ``out``, raster order; the bytes written, or -1 if ``out``
    is too small.

    ``small_of[ctx]``: the small context within the 16-bit large context ``ctx``. Each
    pixel is coded with :func:`_p0_backoff` of its two contexts.
    """
    h, w, c0, c1, s0, s1 = _backoff_start(pad, small_of)
    coder = _encoder_start()
    for y in range(BACKOFF_TOP, BACKOFF_TOP + h):
        r2, r1 = _row_start(pad, y)
        r0 = 0
        for x in range(BACKOFF_LEFT, BACKOFF_LEFT + w):
            r2, r1, r0, ctx = _slide(pad, y, x, r2, r1, r0)
            small = small_of[ctx]
            bit = pad[y, x]
            p0 = _p0_backoff(c0[ctx], c1[ctx], s0[small], s1[small])
            coder = _encode_bit(coder, bit, p0, out)
            if _encoder_full(coder, out):
                return -1
            c0[ctx], c1[ctx] = _count(c0[ctx], c1[ctx], bit, LARGE_LIMIT)
            s0[small], s1[small] = _count(s0[small], s1[small], bit, SMALL_LIMIT)
    return _encoder_finish(coder, out)


@numba.njit(nogil=True, cache=True)
def decode_page_backoff(data, pad, small_of):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Decode ``data`` into the zeroed ``pad`` (as :func:`encode_page_backoff` lays it out);
    the bytes read, or an ``ERR_*`` code."""
    h, w, c0, c1, s0, s1 = _backoff_start(pad, small_of)
    code, rng, pos = _decoder_start(data)
    if pos < 0:
        return pos
    for y in range(BACKOFF_TOP, BACKOFF_TOP + h):
        r2, r1 = _row_start(pad, y)
        r0 = 0
        for x in range(BACKOFF_LEFT, BACKOFF_LEFT + w):
            r2, r1, r0, ctx = _slide(pad, y, x, r2, r1, r0)
            small = small_of[ctx]
            p0 = _p0_backoff(c0[ctx], c1[ctx], s0[small], s1[small])
            bit, code, rng, pos = _decode_bit(code, rng, pos, p0, data)
            c0[ctx], c1[ctx] = _count(c0[ctx], c1[ctx], bit, LARGE_LIMIT)
            s0[small], s1[small] = _count(s0[small], s1[small], bit, SMALL_LIMIT)
            pad[y, x] = bit
            if pos < 0:
                return pos
    return _decoder_finish(code, rng, pos)
