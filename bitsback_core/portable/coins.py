"""Compact tables for scoring many portable coins: the same integers in less cache.

The pixel term of BB-IS and BB-CIS importance weights reads, for every coin of every
particle (a million per coding step), the sigmoid table at the coin's logit and the
``log2`` table at its frequency. Both full tables are 512 KiB of int64, together larger
than a core's L2 cache, and the reads were most of the term's time. :func:`coin_tables`
keeps only what those reads can reach, in narrower integers:

* a coin's count of ones (:func:`~bitsback_core.portable.kernels.count_one`) is a
  non-decreasing function of its logit (the sigmoid table is checked non-decreasing, and
  interpolating between non-decreasing samples is non-decreasing), constant below some
  logit ``lo_clip`` and above some ``hi_clip`` (it is clamped to ``[1, 2**prec - 1]``).
  Clipping a logit to ``[lo_clip, hi_clip]`` before the read therefore changes no count,
  and only the table cells between the two are kept (for 16-bit coins about a third of
  the table, as uint32: its samples there are below ``2**32``);
* a coin's frequency lies in ``[1, 2**prec - 1]``, whose base-2 logs (``LOG2_BITS``
  fraction bits, at most ``24 * 2**24``) fit int32.

Nothing about a code changes: tests compare counts and sums with the full tables' on
every logit around the clips and on the whole table domain.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from bitsback_core.portable.formats import LOGIT_BITS, PROB_BITS, TABLE_STEP_BITS
from bitsback_core.portable.kernels import log2_table
from bitsback_core.portable.tables import lookup, table

__all__ = ["MAX_COIN_PREC", "CoinTables", "coin_tables", "reference_counts"]

#: Precisions :func:`coin_tables` serves (their log2 table fits int32, their counts int64).
MAX_COIN_PREC = 24


class CoinTables(NamedTuple):
    """What the fused pixel-term kernel reads for coins of one precision."""

    sig: np.ndarray  # sigmoid samples of the cells that [lo_clip, hi_clip] reaches (uint32)
    sig_lo: np.int64  # grid index (in table steps) of sig[0]
    lo_clip: np.int64  # logit (LOGIT_BITS): every logit at or below it counts as it does
    hi_clip: np.int64  # every logit at or above it counts as it does
    log2: np.ndarray  # int32: log2_fixed(f) at index f - 1, for f in [1, 2**prec - 1]


def reference_counts(logits: np.ndarray, prec: int) -> np.ndarray:
    """Counts of ones through the full sigmoid table (numpy): the definition, for checks."""
    s = lookup(table("sigmoid"), np.asarray(logits, dtype=np.int64), LOGIT_BITS)
    c = ((s << np.int64(prec)) + (np.int64(1) << np.int64(PROB_BITS - 1))) >> np.int64(PROB_BITS)
    return np.clip(c, 1, (1 << prec) - 1)


def _count(logit: int, prec: int) -> int:
    return int(reference_counts(np.array([logit]), prec)[0])


def _last_equal(lo: int, hi: int, prec: int) -> int:
    """Largest logit in ``[lo, hi]`` whose count is ``count(lo)`` (counts non-decreasing)."""
    target = _count(lo, prec)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _count(mid, prec) == target:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _first_equal(lo: int, hi: int, prec: int) -> int:
    """Smallest logit in ``[lo, hi]`` whose count is ``count(hi)``."""
    target = _count(hi, prec)
    while lo < hi:
        mid = (lo + hi) // 2
        if _count(mid, prec) == target:
            hi = mid
        else:
            lo = mid + 1
    return hi


@functools.lru_cache(maxsize=4)
def coin_tables(prec: int) -> CoinTables:
    """The clipped sigmoid cells and the int32 ``log2`` table for ``prec``-bit coins."""
    if not 1 <= prec <= MAX_COIN_PREC:
        raise ValueError(f"coin tables cover precisions 1 to {MAX_COIN_PREC}, got {prec}")
    tab = table("sigmoid")
    if np.any(np.diff(tab.values) < 0):
        raise ValueError("the sigmoid table is not non-decreasing: logits cannot be clipped")
    k = LOGIT_BITS - TABLE_STEP_BITS
    domain_lo = int(tab.lo_steps) << k
    domain_hi = (int(tab.lo_steps) + int(tab.last)) << k
    lo_clip = _last_equal(domain_lo, domain_hi, prec)
    hi_clip = _first_equal(lo_clip, domain_hi, prec)
    first = (lo_clip - domain_lo) >> k
    last = ((hi_clip - domain_lo) >> k) + 1  # the kernel reads cell i and i + 1
    cells = tab.values[first : last + 1]
    sig = cells.astype(np.uint32) if int(cells.max()) < 2**32 else cells.astype(np.int64)
    log2 = log2_table(prec)[1 : 1 << prec].astype(np.int32)
    for a in (sig, log2):
        a.setflags(write=False)
    return CoinTables(sig, np.int64(int(tab.lo_steps) + first), np.int64(lo_clip),
                      np.int64(hi_clip), log2)  # fmt: skip
