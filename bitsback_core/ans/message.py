"""A vectorized rANS stack: ``(chains, lanes)`` independent streams in lockstep.

Why this shape: bits-back coding is inherently sequential *within* one stream, but
independent streams can advance together. A dataset is split over ``chains`` (one image
per chain per step) and the symbols of one image are spread over ``lanes``, so every
push and pop is a handful of numpy operations over a ``(chains, lanes)`` array.

Each lane holds a *head* (an integer state in ``[2**lprec, 2**(lprec + bprec))``) and a
stack of ``bprec``-bit words. Pushing a symbol with integer interval ``[start,
start + freq)`` out of ``2**prec`` grows the head by about ``log2(2**prec / freq)`` bits,
spilling whole words onto the stack; popping is the exact inverse.

Popping from an empty lane is legal (bits-back needs it: the first latent is *decoded*
from nothing): the lane then draws its next word of initial bits, a counter-based
function of (seed, lane, word index) (:func:`initial_word`). Those words, and the
random starting head, are the *initial bits*: information the message was given rather
than information about the data. ``net = total - initial``.

::

      chain 0:  lane 0 [head] | w w w w w      <- words pushed / popped at the right
                lane 1 [head] | w w w
      chain 1:  lane 0 [head] | w w w w
                lane 1 [head] | w w w w w w

Ownership: a :class:`Message` is a mutable object owned by one coder at a time; ``push``
and ``pop`` change it in place (a persistent structure would cost a copy per symbol).
Use :meth:`copy` to keep a snapshot.
"""

from __future__ import annotations

import struct
from typing import Callable, TypeVar

import numpy as np

from bitsback_core.ans._kernels import decode_lanes, push_lanes, take_words

__all__ = ["Message", "MessageFormatError", "EmptyStackError"]

_MAGIC = b"BBANS3\x00\x00"
_HEADER = struct.Struct("<8sBBxxIIQ")  # magic, lprec, bprec, chains, lanes, seed
_EVERY_LANE = np.zeros(0, dtype=bool)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
#: Counter index of a lane's starting head (words drawn later use 0, 1, 2, ...).
_HEAD_INDEX = np.uint64(2**64 - 1)


# An array of words or one word (a seed, a frame index): mix64 keeps whichever it gets.
_Words = TypeVar("_Words", np.ndarray, np.uint64)


def mix64(x: _Words) -> _Words:
    """splitmix64's output function: a bijection of uint64 that scrambles every bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def initial_word(seed: int, lane: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The 64 initial bits number ``index`` of lane ``lane`` (flat), keyed by ``seed``.

    Counter-based (splitmix64 mixing of seed, lane and index): any lane can draw its
    ``index``-th word at any time, in any order, on any device, and get the same bits.
    """
    with np.errstate(over="ignore"):
        key = mix64(np.uint64(seed) + _GOLDEN)
        h = mix64((key ^ np.asarray(lane, dtype=np.uint64)) + _GOLDEN)
        return mix64((h ^ np.asarray(index, dtype=np.uint64)) + _GOLDEN)


def _log2_u64(a: np.ndarray) -> np.ndarray:
    """log2 of uint64 values without losing their low bits to a float64 cast."""
    high = (a >> np.uint64(32)).astype(np.float64) * 4294967296.0
    low = (a & np.uint64(0xFFFFFFFF)).astype(np.float64)
    return np.log2(high + low)


class MessageFormatError(ValueError):
    """Raised when bytes do not hold a valid serialized message."""


class EmptyStackError(ValueError):
    """Raised when a strict message is popped past its end (corrupt or truncated input)."""


class Message:
    """rANS state for ``shape = (chains, lanes)`` lanes.

    Args:
        shape: ``(chains, lanes)``.
        lprec: the head never drops below ``2**lprec``.
        bprec: bits per stack word (at most 32); ``lprec + bprec <= 64``.
        seed: keys the counter-based initial bits: the starting heads and the words drawn
            by pops from an empty lane.
        strict: if true, popping from an empty lane raises :class:`EmptyStackError`
            instead of drawing initial bits (decoders use it to detect corrupt input).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        lprec: int = 32,
        bprec: int = 32,
        seed: int = 0,
        strict: bool = False,
    ) -> None:
        chains, lanes = (int(s) for s in shape)
        if chains < 1 or lanes < 1:
            raise ValueError(f"message shape must be positive, got {shape}")
        if not 1 <= bprec <= 32:
            raise ValueError(f"bprec must be in [1, 32], got {bprec}")
        if lprec < 1 or lprec + bprec > 64:
            raise ValueError(f"need lprec >= 1 and lprec + bprec <= 64, got {lprec} + {bprec}")
        self.shape = (chains, lanes)
        self.lprec = lprec
        self.bprec = bprec
        self.seed = seed
        self.strict = strict
        n = chains * lanes
        self._head = self._draw_heads(n)
        self._head0 = self._head.copy()
        self._words = np.zeros((n, 16), dtype=np.uint32)
        self._len = np.zeros(n, dtype=np.int64)
        self._drawn = np.zeros(n, dtype=np.int64)

    # ------------------------------------------------------------------ state
    def _draw_heads(self, n: int) -> np.ndarray:
        """Uniform heads in ``[2**lprec, 2**(lprec + bprec))``: all their bits are initial bits."""
        span = self.lprec + self.bprec
        raw = initial_word(self.seed, np.arange(n, dtype=np.uint64), np.full(n, _HEAD_INDEX))
        if span < 64:
            raw &= np.uint64((1 << span) - 1)
        return raw | np.uint64(1 << self.lprec)

    @property
    def num_lanes(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def head(self) -> np.ndarray:
        """A copy of the heads, uint64 ``(chains, lanes)``."""
        return self._head.reshape(self.shape).copy()

    def copy(self) -> Message:
        """An independent snapshot (initial bits are counter-based: no generator state)."""
        other = Message.__new__(Message)
        other.shape, other.lprec, other.bprec = self.shape, self.lprec, self.bprec
        other.seed, other.strict = self.seed, self.strict
        other._head = self._head.copy()
        other._head0 = self._head0.copy()
        other._words = self._words.copy()
        other._len = self._len.copy()
        other._drawn = self._drawn.copy()
        return other

    def _lane_values(self, a: np.ndarray | int) -> np.ndarray:
        """``a`` broadcast to the message shape, as a flat contiguous int64 array."""
        arr = np.asarray(a, dtype=np.int64)
        if arr.shape != self.shape:
            arr = np.broadcast_to(arr, self.shape)
        return np.ascontiguousarray(arr).reshape(-1)

    def _lane_mask(self, mask: np.ndarray | None) -> np.ndarray:
        """Flat bool mask over the lanes, or an empty array for "every lane"."""
        if mask is None:
            return _EVERY_LANE
        m = np.asarray(mask, dtype=bool)
        if m.shape != self.shape:
            m = np.broadcast_to(m, self.shape)
        return np.ascontiguousarray(m).reshape(-1)

    def _check_prec(self, prec: int) -> None:
        if not 1 <= prec <= self.lprec:
            raise ValueError(f"symbol precision must be in [1, lprec={self.lprec}], got {prec}")

    # ------------------------------------------------------------------ stack
    def _reserve(self, pushes_per_lane: int, prec: int) -> None:
        """Make room on every lane for ``pushes_per_lane`` pushes at ``prec``.

        A push spills at most ``ceil(prec / bprec)`` words; the stack array grows by doubling.
        """
        needed = int(self._len.max(initial=0)) + pushes_per_lane * -(-prec // self.bprec)
        if needed > self._words.shape[1]:
            grown = np.zeros((self.num_lanes, max(needed, 2 * self._words.shape[1])), np.uint32)
            grown[:, : self._words.shape[1]] = self._words
            self._words = grown

    def _refill(self, low: np.ndarray, empty: np.ndarray) -> None:
        """Finish refilling the heads of ``low`` (flat lanes, increasing) after a first round.

        The first round has shifted a stack word into every lane of ``low`` except
        ``empty``, whose stacks were empty: those draw now, in lane order, one generator
        call per round; lanes still below ``2**lprec`` repeat (only when ``bprec < lprec``).
        That order is part of the format's behaviour: it decides which initial bits go where.
        """
        lower = np.uint64(1 << self.lprec)
        while True:
            if empty.size:
                self._draw_words(empty)
            low = low[self._head[low] < lower]
            if not low.size:
                return
            empty = take_words(self._head, low, self._words, self._len, self.bprec)

    def _draw_words(self, lanes: np.ndarray) -> None:
        """Shift a word drawn from the generator into each of ``lanes`` (all stacks empty)."""
        if self.strict:
            raise EmptyStackError(
                f"popped past the end of {lanes.size} lane(s): the message is corrupt or "
                "truncated, or the decoder's settings differ from the encoder's"
            )
        mask = (1 << self.bprec) - 1
        drawn = initial_word(self.seed, lanes, self._drawn[lanes]) & np.uint64(mask)
        self._head[lanes] = (self._head[lanes] << np.uint64(self.bprec)) | drawn
        self._drawn[lanes] += 1

    # ------------------------------------------------------------------ coding
    def push(
        self,
        start: np.ndarray | int,
        freq: np.ndarray | int,
        prec: int,
        mask: np.ndarray | None = None,
    ) -> None:
        """Encode one symbol per lane, given its interval ``[start, start + freq)`` of ``2**prec``.

        ``start`` and ``freq`` broadcast to ``(chains, lanes)``; lanes where ``mask`` is
        false are left untouched.
        """
        self._check_prec(prec)
        self._reserve(1, prec)
        status = push_lanes(
            self._head,
            self._lane_values(start),
            self._lane_values(freq),
            self._lane_mask(mask),
            prec,
            self.lprec,
            self.bprec,
            self._words,
            self._len,
        )
        if status < 0:
            raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")

    def peek(self, prec: int, mask: np.ndarray | None = None) -> np.ndarray:
        """First phase of a pop: the cumulative frequency in ``[0, 2**prec)`` of each lane.

        Returns an int64 ``(chains, lanes)`` array (zeros where ``mask`` is false). The
        caller finds the symbol whose interval holds it, then calls :meth:`commit`.
        """
        self._check_prec(prec)
        cf = (self._head & np.uint64((1 << prec) - 1)).astype(np.int64).reshape(self.shape)
        if mask is not None:
            cf = np.where(np.broadcast_to(mask, self.shape), cf, 0)
        return cf

    def commit(
        self,
        start: np.ndarray | int,
        freq: np.ndarray | int,
        prec: int,
        mask: np.ndarray | None = None,
    ) -> None:
        """Second phase of a pop: remove the symbol with interval ``[start, start + freq)``."""
        self._check_prec(prec)
        low = decode_lanes(
            self._head,
            self._lane_values(start),
            self._lane_values(freq),
            self._lane_mask(mask),
            prec,
            self.lprec,
        )
        if low.size == 1 and low[0] < 0:
            raise ValueError(
                "commit: the interval does not contain the peeked cumulative frequency"
            )
        self._refill(low, take_words(self._head, low, self._words, self._len, self.bprec))

    def pop(
        self,
        prec: int,
        lookup: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Peek, map the cumulative frequencies to ``(symbol, start, freq)`` with ``lookup``, commit."""
        cf = self.peek(prec, mask)
        symbol, start, freq = lookup(cf)
        self.commit(start, freq, prec, mask)
        return symbol

    # ------------------------------------------------------------------ accounting
    def _lane_bits(self, counts: np.ndarray) -> np.ndarray:
        return counts.reshape(self.shape).sum(axis=1)

    def total_bits_per_chain(self) -> np.ndarray:
        """Bits of the flushed message per chain: heads plus stack words."""
        per_lane = (self.lprec + self.bprec) + self.bprec * self._len
        return self._lane_bits(per_lane)

    def drawn_words_per_chain(self) -> np.ndarray:
        """Words drawn from the generator by pops from empty lanes, per chain."""
        return self._lane_bits(self._drawn)

    def net_bits_per_chain(self) -> np.ndarray:
        """Exact code length (float bits) of everything coded so far, per chain."""
        words = self.bprec * (self._len - self._drawn).astype(np.float64)
        head_bits = _log2_u64(self._head) - _log2_u64(self._head0)
        return self._lane_bits(words + head_bits)

    def initial_bits_per_chain(self) -> np.ndarray:
        """``total - net`` per chain: random starts, drawn words and final-head slack."""
        return self.total_bits_per_chain() - self.net_bits_per_chain()

    @property
    def total_bits(self) -> int:
        return int(self.total_bits_per_chain().sum())

    @property
    def net_bits(self) -> float:
        return float(self.net_bits_per_chain().sum())

    @property
    def initial_bits(self) -> float:
        return self.total_bits - self.net_bits

    # ------------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        """Serialize: header, heads, stack lengths, drawn-word counts, words.

        Per lane that is 16 bytes besides the words (the 8-byte head is part of
        ``total_bits``; lengths and drawn counts are 4 bytes each). The starting heads are
        not stored: they are counter-based draws keyed by the seed, so
        :meth:`from_bytes` regenerates them.
        """
        chains, lanes = self.shape
        header = _HEADER.pack(_MAGIC, self.lprec, self.bprec, chains, lanes, self.seed)
        words = self._words[np.arange(self._words.shape[1]) < self._len[:, None]]
        return b"".join(
            [
                header,
                self._head.astype("<u8").tobytes(),
                self._len.astype("<u4").tobytes(),
                self._drawn.astype("<u4").tobytes(),
                np.asarray(words, dtype="<u4").tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes, strict: bool = True) -> Message:
        """Inverse of :meth:`to_bytes`; validates everything and is strict by default."""
        if len(data) < _HEADER.size:
            raise MessageFormatError(
                f"message too short: {len(data)} bytes, header needs {_HEADER.size}"
            )
        magic, lprec, bprec, chains, lanes, seed = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise MessageFormatError("not a bitsback rANS message (bad magic bytes)")
        msg = cls((chains, lanes), lprec=lprec, bprec=bprec, seed=seed, strict=strict)
        n = chains * lanes
        offset = _HEADER.size
        need = offset + 16 * n
        if len(data) < need:
            raise MessageFormatError(
                f"message truncated: {len(data)} bytes, lane table needs {need}"
            )
        head = np.frombuffer(data, "<u8", n, offset).astype(np.uint64)
        lengths = np.frombuffer(data, "<u4", n, offset + 8 * n).astype(np.int64)
        drawn = np.frombuffer(data, "<u4", n, offset + 12 * n).astype(np.int64)
        offset = need
        if np.any(head < (1 << lprec)) or (
            lprec + bprec < 64 and np.any(head >> np.uint64(lprec + bprec))
        ):
            raise MessageFormatError("message heads out of range: corrupt data")
        total_words = int(lengths.sum())
        if np.any(lengths < 0) or np.any(drawn < 0) or len(data) != offset + 4 * total_words:
            raise MessageFormatError(
                f"message size mismatch: {len(data) - offset} bytes of words, expected {4 * total_words}"
            )
        words = np.frombuffer(data, "<u4", total_words, offset).astype(np.uint32)
        if bprec < 32 and np.any(words >> np.uint32(bprec)):
            raise MessageFormatError("stack word wider than bprec: corrupt data")
        msg._head = head.copy()  # msg._head0: regenerated by the constructor from the seed
        msg._len = lengths.copy()
        msg._drawn = drawn.copy()
        msg._words = np.zeros((n, max(16, int(lengths.max(initial=0)))), dtype=np.uint32)
        msg._words[np.arange(msg._words.shape[1]) < lengths[:, None]] = words
        return msg

    # ------------------------------------------------------------------ frame bytes
    def to_frame_bytes(self) -> bytes:
        """Serialize compactly for a ``.bbz`` frame: heads, stack lengths, words (see docs/format.md).

        Unlike :meth:`to_bytes` this stores no magic, precisions, shape, seed or drawn-word
        counts: the file's header holds the first four for every frame, and a decoder does
        not need the counts, because it checks :meth:`is_initial_state` instead of
        ``net_bits == 0``. Per lane that is 12 bytes besides the words.
        """
        words = self._words[np.arange(self._words.shape[1]) < self._len[:, None]]
        return b"".join(
            [
                self._head.astype("<u8").tobytes(),
                self._len.astype("<u4").tobytes(),
                np.asarray(words, dtype="<u4").tobytes(),
            ]
        )

    @classmethod
    def from_frame_bytes(
        cls,
        data: bytes,
        shape: tuple[int, int],
        lprec: int,
        bprec: int,
        seed: int,
        strict: bool = True,
    ) -> Message:
        """Inverse of :meth:`to_frame_bytes`; the layout and precisions come from the caller.

        Validates sizes, head ranges and word widths before building anything larger than
        the lane table, so damaged bytes become a :class:`MessageFormatError`. The drawn-word
        counts are unknown (zero), so ``net_bits`` of the result is not meaningful.
        """
        chains, lanes = (int(s) for s in shape)
        n = chains * lanes
        if n < 1 or len(data) < 12 * n:
            raise MessageFormatError(
                f"message truncated: {len(data)} bytes, lane table needs {12 * n}"
            )
        msg = cls((chains, lanes), lprec=lprec, bprec=bprec, seed=seed, strict=strict)
        head = np.frombuffer(data, "<u8", n, 0).astype(np.uint64)
        lengths = np.frombuffer(data, "<u4", n, 8 * n).astype(np.int64)
        if np.any(head < (1 << lprec)) or (
            lprec + bprec < 64 and np.any(head >> np.uint64(lprec + bprec))
        ):
            raise MessageFormatError("message heads out of range: corrupt data")
        total_words = int(lengths.sum())
        if len(data) != 12 * n + 4 * total_words:
            raise MessageFormatError(
                f"message size mismatch: {len(data) - 12 * n} bytes of words, expected {4 * total_words}"
            )
        words = np.frombuffer(data, "<u4", total_words, 12 * n).astype(np.uint32)
        if bprec < 32 and np.any(words >> np.uint32(bprec)):
            raise MessageFormatError("stack word wider than bprec: corrupt data")
        msg._head = head.copy()
        msg._len = lengths
        msg._words = np.zeros((n, max(16, int(lengths.max(initial=0)))), dtype=np.uint32)
        msg._words[np.arange(msg._words.shape[1]) < lengths[:, None]] = words
        return msg

    def is_initial_state(self) -> bool:
        """Whether the message is back where an encoder with this seed started.

        Every head equals its starting head and every lane's stack holds exactly that lane's
        initial words ``0 .. len - 1`` (word 0 on top: the decoder pushes back the words the
        encoder drew, last drawn first), masked to ``bprec`` bits. A decoder ends there after
        undoing a whole message; stronger than ``net_bits == 0``, which trusts stored
        drawn-word counts and compares no word.
        """
        if not np.array_equal(self._head, self._head0):
            return False
        longest = int(self._len.max(initial=0))
        if longest == 0:
            return True
        lane = np.repeat(np.arange(self.num_lanes, dtype=np.uint64), self._len)
        starts = np.cumsum(self._len) - self._len
        pos = np.arange(int(self._len.sum()), dtype=np.int64) - np.repeat(starts, self._len)
        top_down = np.repeat(self._len, self._len) - 1 - pos  # initial-word index of each slot
        expected = initial_word(self.seed, lane, top_down.astype(np.uint64)) & np.uint64(
            (1 << self.bprec) - 1
        )
        live = self._words[lane.astype(np.int64), pos]
        return bool(np.array_equal(live.astype(np.uint64), expected))

    def equals(self, other: Message) -> bool:
        """Same shape, precisions, heads and stacks (ignores generator state)."""
        if (self.shape, self.lprec, self.bprec) != (other.shape, other.lprec, other.bprec):
            return False
        if not np.array_equal(self._head, other._head) or not np.array_equal(self._len, other._len):
            return False
        width = min(self._words.shape[1], other._words.shape[1])
        live = np.arange(width) < self._len[:, None]
        return bool(np.array_equal(self._words[:, :width][live], other._words[:, :width][live]))
