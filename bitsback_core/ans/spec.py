"""The readable specification of the rANS message: one lane, plain Python integers.

:class:`~bitsback_core.ans.message.Message` and its compiled kernels are what the coders
run; this module is what they mean. It holds one lane's head and stack as Python ints
and a list, with no numpy, no numba and no vectorization, so each rule reads in a line
or two. The tests drive a :class:`Message` and one :class:`ScalarLane` per lane with the
same random pushes and pops and require identical heads, stacks and drawn-word counts
after every step; a change to either side that alters a bit fails there.

The rules:

* head ``h`` lives in ``[2**lprec, 2**(lprec + bprec))``; the stack holds ``bprec``-bit words;
* **push** ``[start, start + freq)`` of ``2**prec``: while ``h >= freq * 2**(lprec - prec + bprec)``
  move the low word of ``h`` onto the stack; then ``h = (h // freq) * 2**prec + h % freq + start``;
* **pop**: ``cf = h mod 2**prec`` names the symbol whose interval ``[start, start + freq)``
  holds it; ``h = freq * (h >> prec) + cf - start``; while ``h < 2**lprec`` shift the top
  stack word in, or, from an empty stack, the lane's next *initial word*;
* initial words: ``initial_word(seed, lane, i)`` (splitmix64 mixing, :func:`splitmix_word`),
  masked to ``bprec`` bits; the starting head is word ``2**64 - 1`` masked to
  ``lprec + bprec`` bits with bit ``lprec`` set.
"""

from __future__ import annotations

__all__ = ["ScalarLane", "splitmix_word"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_HEAD_INDEX = _M64


def _mix(x: int) -> int:
    """splitmix64's output function on a Python int (kept below 2**64 by masking)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def splitmix_word(seed: int, lane: int, index: int) -> int:
    """Initial word ``index`` of flat lane ``lane`` under ``seed``: 64 bits."""
    key = _mix((seed + _GOLDEN) & _M64)
    h = _mix(((key ^ lane) + _GOLDEN) & _M64)
    return _mix(((h ^ index) + _GOLDEN) & _M64)


class ScalarLane:
    """One rANS lane (flat index ``lane`` of a message seeded with ``seed``)."""

    def __init__(self, lane: int, lprec: int = 32, bprec: int = 32, seed: int = 0) -> None:
        self.lane, self.lprec, self.bprec, self.seed = lane, lprec, bprec, seed
        span = lprec + bprec
        self.head = (splitmix_word(seed, lane, _HEAD_INDEX) & ((1 << span) - 1)) | (1 << lprec)
        self.stack: list[int] = []
        self.drawn = 0

    def push(self, start: int, freq: int, prec: int) -> None:
        """Encode the symbol with interval ``[start, start + freq)`` of ``2**prec``."""
        if not (freq >= 1 and start >= 0 and start + freq <= 1 << prec):
            raise ValueError(f"invalid interval [{start}, {start + freq}) of 2**{prec}")
        h = self.head
        while h >> (self.lprec - prec + self.bprec) >= freq:
            self.stack.append(h & ((1 << self.bprec) - 1))
            h >>= self.bprec
        self.head = (h // freq << prec) + h % freq + start

    def peek(self, prec: int) -> int:
        """The cumulative frequency the next pop at ``prec`` decodes."""
        return self.head & ((1 << prec) - 1)

    def commit(self, start: int, freq: int, prec: int) -> None:
        """Remove the symbol whose interval (holding :meth:`peek`'s value) is given, refill."""
        cf = self.peek(prec)
        if not start <= cf < start + freq:
            raise ValueError(f"interval [{start}, {start + freq}) does not hold {cf}")
        h = freq * (self.head >> prec) + cf - start
        while h < 1 << self.lprec:
            if self.stack:
                word = self.stack.pop()
            else:
                word = splitmix_word(self.seed, self.lane, self.drawn) & ((1 << self.bprec) - 1)
                self.drawn += 1
            h = (h << self.bprec) | word
        self.head = h

    def total_bits(self) -> int:
        """Bits of the flushed lane: head plus stack words."""
        return self.lprec + self.bprec + self.bprec * len(self.stack)
