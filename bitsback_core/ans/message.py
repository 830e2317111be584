"""A vectorized rANS stack: ``(chains, lanes)`` independent streams in lockstep.

Why this shape: bits-back coding is sequential *within* one stream, but independent
streams can advance together: a dataset is split over ``chains`` (one image per chain per
step) and the symbols of one image are spread over ``lanes``. What a push and a pop do to
one lane (a head and a stack of ``bprec``-bit words) is :mod:`bitsback_core.ans.spec`.

A pop from an empty lane is legal (bits-back needs it: the first latent is *decoded* from
nothing) and draws the lane's next counter-based word of *initial bits*
(:func:`initial_word`). Those words and the random starting heads were given to the
message, not told about the data: ``net = total - initial``.

Ownership: a :class:`Message` is mutable and owned by one coder at a time (a persistent
structure would cost a copy per symbol); :meth:`copy` keeps a snapshot.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from bitsback_core.ans import _kernels
from bitsback_core.ans._kernels import NO_INTERVALS, Lanes, Rows, known_row_ppf, mix64, rows_kernel

__all__ = ["Message", "MessageFormatError", "EmptyStackError", "initial_word", "mix64"]

#: Counter index of a lane's starting head (words drawn later use 0, 1, 2, ...).
_HEAD_INDEX = np.uint64(2**64 - 1)


def initial_word(seed: int, lane: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The 64 initial bits number ``index`` of lane ``lane`` (flat), keyed by ``seed``.

    Counter-based, so any lane can draw its ``index``-th word at any time, in any order,
    on any device, and get the same bits. The compiled pops call the same function.
    """
    lane, index = np.asarray(lane, np.uint64), np.asarray(index, np.uint64)
    return _kernels.initial_word(np.uint64(seed), lane.reshape(-1), index.reshape(-1))


class MessageFormatError(ValueError):
    """Raised when bytes do not hold a valid serialized message."""


class EmptyStackError(ValueError):
    """Raised when a strict message is popped past its end (corrupt or truncated input)."""


def _check(status: int) -> None:
    """Turn a kernel's status (``_kernels``' docstring) into an exception."""
    if status == -1:
        raise ValueError("push needs 1 <= freq and start + freq <= 2**prec")
    if status == -2:
        raise ValueError(
            "pop: the row program's interval does not contain the cumulative frequency"
        )
    if status == -3:
        raise EmptyStackError(
            "popped past the end of a lane: the message is corrupt or truncated, "
            "or the decoder's settings differ from the encoder's"
        )


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
        n, span = chains * lanes, lprec + bprec
        # Uniform heads in [2**lprec, 2**(lprec + bprec)): all their bits are initial bits.
        heads = initial_word(seed, np.arange(n, dtype=np.uint64), np.full(n, _HEAD_INDEX))
        self._head = (heads & np.uint64((1 << span) - 1)) | np.uint64(1 << lprec)
        self._head0 = self._head.copy()
        self._words = np.zeros((n, 16), dtype=np.uint32)
        self._len = np.zeros(n, dtype=np.int64)
        self._drawn = np.zeros(n, dtype=np.int64)
        self._base = 0  # flat index of lane 0 in the message this one is a chain group of

    # ------------------------------------------------------------------ state
    @property
    def num_lanes(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def head(self) -> np.ndarray:
        """A copy of the heads, uint64 ``(chains, lanes)``."""
        return self._head.reshape(self.shape).copy()

    def copy(self) -> Message:
        """An independent snapshot (initial bits are counter-based: no generator state)."""
        other = copy.copy(self)
        for name in ("_head", "_head0", "_words", "_len", "_drawn"):
            setattr(other, name, getattr(self, name).copy())
        return other

    def chains(self, lo: int, hi: int) -> Message:
        """Chains ``lo .. hi - 1`` as a message of their own (a copy), to code on another thread.

        Its lanes draw the initial words of their place in this message, so coding it and
        then :meth:`put_chains` changes exactly the bits that coding those chains here would.
        """
        if not 0 <= lo < hi <= self.shape[0]:
            raise ValueError(f"chains {lo}..{hi - 1} out of range for {self.shape[0]} chains")
        rows, part = slice(lo * self.shape[1], hi * self.shape[1]), copy.copy(self)
        part.shape, part._base = (hi - lo, self.shape[1]), self._base + rows.start
        for name in ("_head", "_head0", "_words", "_len", "_drawn"):
            setattr(part, name, getattr(self, name)[rows].copy())
        return part

    def put_chains(self, lo: int, part: Message) -> None:
        """Write back a group :meth:`chains` returned (and a coder changed), from chain ``lo``."""
        rows = slice(lo * self.shape[1], lo * self.shape[1] + part.num_lanes)
        if part._base != self._base + rows.start or rows.stop > self.num_lanes:
            raise ValueError(f"not chains {lo}.. of this message")
        self._head[rows], self._len[rows], self._drawn[rows] = part._head, part._len, part._drawn
        self._widen(part._words.shape[1])
        self._words[rows] = 0
        self._words[rows, : part._words.shape[1]] = part._words

    def _lanes(self) -> Lanes:
        """The arrays the kernels change in place (:class:`~._kernels.Lanes`)."""
        seed = np.uint64(self.seed)
        head, words, length, drawn = self._head, self._words, self._len, self._drawn
        base = np.uint64(self._base)
        return Lanes(head, words, length, drawn, self.lprec, self.bprec, seed, self.strict, base)

    def _check_prec(self, prec: int) -> None:
        if not 1 <= prec <= self.lprec:
            raise ValueError(f"symbol precision must be in [1, lprec={self.lprec}], got {prec}")

    def _reserve(self, pushes_per_lane: int, prec: int) -> None:
        """Make room on every lane for ``pushes_per_lane`` pushes at ``prec``.

        A push spills at most ``ceil(prec / bprec)`` words; the stack array grows by doubling.
        """
        self._widen(int(self._len.max(initial=0)) + pushes_per_lane * -(-prec // self.bprec))

    def _widen(self, width: int) -> None:
        """Hold at least ``width`` words per lane (growing at least twofold)."""
        if width > self._words.shape[1]:
            grown = np.zeros((self.num_lanes, max(width, 2 * self._words.shape[1])), np.uint32)
            grown[:, : self._words.shape[1]] = self._words
            self._words = grown

    # ------------------------------------------------------------------ coding
    def code_rows(self, rows: Rows, program: tuple[Any, tuple[Any, ...]] | None = None) -> None:
        """Push and/or pop one vector laid over rows of lanes (:class:`~._kernels.Rows`).

        ``program`` is the popped distribution's ``row_program()`` (None: a push only); the
        popped symbols, starts and freqs land in ``rows.out``. Chains run on numba's threads.
        """
        if rows.push_prec:
            self._check_prec(rows.push_prec)
            self._reserve(-(-rows.n // rows.lanes), rows.push_prec)  # ceil(n / lanes) a lane
        if rows.pop_prec:
            self._check_prec(rows.pop_prec)
            if program is None:
                raise ValueError("a pop needs the distribution's row program")
        ppf, params = program or (known_row_ppf, NO_INTERVALS)
        _check(rows_kernel(ppf)(self._lanes(), rows, params))

    # ------------------------------------------------------------------ accounting
    def _per_chain(self, per_lane: np.ndarray) -> np.ndarray:
        return per_lane.reshape(self.shape).sum(axis=1)

    def total_bits_per_chain(self) -> np.ndarray:
        """Bits of the flushed message per chain: heads plus stack words."""
        return self._per_chain((self.lprec + self.bprec) + self.bprec * self._len)

    def drawn_words_per_chain(self) -> np.ndarray:
        """Initial words drawn by pops from empty lanes, per chain."""
        return self._per_chain(self._drawn)

    def net_bits_per_chain(self) -> np.ndarray:
        """Exact code length (float bits) of everything coded so far, per chain.

        ``bprec * (words - drawn words) + log2(head) - log2(starting head)`` per lane.
        """
        words = self.bprec * (self._len - self._drawn).astype(np.float64)
        heads = np.log2(self._head.astype(np.float64)) - np.log2(self._head0.astype(np.float64))
        return self._per_chain(words + heads)

    @property
    def total_bits(self) -> int:
        return int(self.total_bits_per_chain().sum())

    @property
    def net_bits(self) -> float:
        return float(self.net_bits_per_chain().sum())

    @property
    def initial_bits(self) -> float:
        """``total - net``: random starts, drawn words and the final heads' unused room."""
        return self.total_bits - self.net_bits

    # ------------------------------------------------------------------ bytes
    def to_frame_bytes(self) -> bytes:
        """Serialize: heads (u64), stack lengths (u32), words (u32) (docs/format.md).

        No precisions, shape or seed (the file's header holds them for every frame) and no
        drawn-word counts: a decoder checks :meth:`is_initial_state`, not ``net_bits == 0``.
        """
        tables = self._head.astype("<u8"), self._len.astype("<u4"), self._live_words().astype("<u4")
        return b"".join(table.tobytes() for table in tables)

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
        if shape[0] * shape[1] < 1:
            raise MessageFormatError(f"message shape must be positive, got {shape}")
        msg = cls(shape, lprec=lprec, bprec=bprec, seed=seed, strict=strict)
        n, span = msg.num_lanes, lprec + bprec
        if len(data) < 12 * n:
            raise MessageFormatError(
                f"message truncated: {len(data)} bytes, lane table needs {12 * n}"
            )
        head = np.frombuffer(data, "<u8", n).astype(np.uint64)
        lengths = np.frombuffer(data, "<u4", n, 8 * n).astype(np.int64)
        if np.any(head < (1 << lprec)) or (span < 64 and np.any(head >> np.uint64(span))):
            raise MessageFormatError("message heads out of range: corrupt data")
        total = int(lengths.sum())
        if len(data) != 12 * n + 4 * total:
            raise MessageFormatError(
                f"message size mismatch: {len(data) - 12 * n} bytes of words, expected {4 * total}"
            )
        words = np.frombuffer(data, "<u4", total, 12 * n).astype(np.uint32)
        if bprec < 32 and np.any(words >> np.uint32(bprec)):
            raise MessageFormatError("stack word wider than bprec: corrupt data")
        msg._head, msg._len = head, lengths  # msg._head0: the constructor's, from the seed
        msg._words = np.zeros((n, max(16, int(lengths.max(initial=0)))), dtype=np.uint32)
        msg._words[np.arange(msg._words.shape[1]) < lengths[:, None]] = words
        return msg

    def reread(self) -> Message:
        """The strict message a decoder builds from :meth:`to_frame_bytes` (run's and bench's check)."""
        shape, precs = self.shape, (self.lprec, self.bprec)
        return Message.from_frame_bytes(self.to_frame_bytes(), shape, *precs, seed=self.seed)

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
        lane, slot = np.nonzero(np.arange(self._words.shape[1]) < self._len[:, None])
        index = self._len[lane] - 1 - slot  # initial-word index of each slot (word 0 on top)
        expected = initial_word(self.seed, lane + self._base, index)
        expected &= np.uint64((1 << self.bprec) - 1)
        return bool(np.array_equal(self._words[lane, slot], expected))

    def equals(self, other: Message) -> bool:
        """Same shape, precisions, heads and stacks (ignores generator state)."""
        if (self.shape, self.lprec, self.bprec) != (other.shape, other.lprec, other.bprec):
            return False
        if not np.array_equal(self._head, other._head) or not np.array_equal(self._len, other._len):
            return False
        return bool(np.array_equal(self._live_words(), other._live_words()))

    def _live_words(self) -> np.ndarray:
        """Every lane's stack, bottom to top, lane after lane (flat uint32)."""
        return self._words[np.arange(self._words.shape[1]) < self._len[:, None]]
