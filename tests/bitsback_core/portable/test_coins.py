"""The compact coin tables score every logit exactly as the full sigmoid and log2 tables do."""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.distributions._portable_kernels import (
    sum_log2_from_counts,
    sum_log2_from_fixed_logits,
)
from bitsback_core.portable.coins import MAX_COIN_PREC, coin_tables, reference_counts
from bitsback_core.portable.formats import LOGIT_BITS, TABLE_STEP_BITS
from bitsback_core.portable.kernels import count_one, log2_table, table_args
from bitsback_core.portable.tables import table


def _one_coin_scores(logits: np.ndarray, prec: int, symbol: int) -> np.ndarray:
    """The fused kernel's log2 frequency of ``symbol`` for each logit (one coin per row)."""
    column = logits.reshape(-1, 1)
    symbols = np.full((column.shape[0], 1), symbol, dtype=np.uint8)
    return sum_log2_from_fixed_logits(column, symbols, 1, prec)


def _expected(logits: np.ndarray, prec: int, symbol: int) -> np.ndarray:
    c1 = reference_counts(logits, prec)
    return log2_table(prec)[c1 if symbol else (1 << prec) - c1]


def _domain() -> tuple[int, int]:
    tab = table("sigmoid")
    k = LOGIT_BITS - TABLE_STEP_BITS
    return int(tab.lo_steps) << k, (int(tab.lo_steps) + int(tab.last)) << k


@pytest.mark.parametrize("prec", [1, 2, 8, 12, 16, 20, MAX_COIN_PREC])
def test_logits_around_the_clips_and_beyond_the_table_score_as_the_full_tables(prec: int) -> None:
    tabs = coin_tables(prec)
    lo, hi = _domain()
    rng = np.random.default_rng(prec)
    logits = np.concatenate(
        [
            np.arange(tabs.lo_clip - 3000, tabs.lo_clip + 3000),
            np.arange(tabs.hi_clip - 3000, tabs.hi_clip + 3000),
            np.arange(lo - 200, lo + 200),
            np.arange(hi - 200, hi + 200),
            rng.integers(lo - (1 << 20), hi + (1 << 20), 200_000),
            np.array([-(2**45), 2**45, 0, -1, 1]),
        ]
    ).astype(np.int64)
    for symbol in (0, 1):
        np.testing.assert_array_equal(
            _one_coin_scores(logits, prec, symbol), _expected(logits, prec, symbol)
        )


def test_every_logit_of_the_table_domain_scores_as_the_full_tables_at_16_bits() -> None:
    """The default precision of the likelihood, exhaustively (4.2 million logits)."""
    lo, hi = _domain()
    logits = np.arange(lo - 64, hi + 64, dtype=np.int64)
    for symbol in (0, 1):
        np.testing.assert_array_equal(
            _one_coin_scores(logits, 16, symbol), _expected(logits, 16, symbol)
        )


def test_reference_counts_are_the_scalar_kernel() -> None:
    sig = table_args("sigmoid")
    logits = np.random.default_rng(1).integers(-(40 << LOGIT_BITS), 40 << LOGIT_BITS, 500)
    for prec in (4, 16):
        want = [count_one(np.int64(v), np.int64(prec), *sig, np.int64(LOGIT_BITS)) for v in logits]
        np.testing.assert_array_equal(reference_counts(logits, prec), want)


@pytest.mark.parametrize("prec", [8, 16, MAX_COIN_PREC])
def test_the_clips_are_where_the_count_stops_changing(prec: int) -> None:
    """Tight clips: one step inside each, the count differs from the saturated one."""
    tabs = coin_tables(prec)
    counts = reference_counts(
        np.array([tabs.lo_clip, tabs.lo_clip + 1, tabs.hi_clip - 1, tabs.hi_clip]), prec
    )
    assert counts[0] == 1 and counts[1] > 1
    assert counts[3] == (1 << prec) - 1 and counts[2] < counts[3]
    assert tabs.sig.dtype == np.uint32 and tabs.log2.dtype == np.int32
    assert tabs.sig.size < table("sigmoid").values.size
    np.testing.assert_array_equal(tabs.log2, log2_table(prec)[1 : 1 << prec])


def test_precisions_outside_the_tables_are_refused() -> None:
    for prec in (0, MAX_COIN_PREC + 1):
        with pytest.raises(ValueError, match="coin tables"):
            coin_tables(prec)


def test_known_counts_score_as_the_full_log2_table_and_must_be_valid() -> None:
    rng = np.random.default_rng(7)
    prec = 12
    counts = rng.integers(1, 1 << prec, (6, 30))
    counts[0, :2] = [1, (1 << prec) - 1]
    x = rng.integers(0, 2, (3, 30)).astype(np.uint8)
    want = log2_table(prec)[np.where(np.repeat(x, 2, axis=0) != 0, counts, (1 << prec) - counts)]
    np.testing.assert_array_equal(sum_log2_from_counts(counts, x, 2, prec), want.sum(axis=1))
    for bad in (0, 1 << prec):
        wrong = counts.copy()
        wrong[2, 5] = bad
        with pytest.raises(ValueError, match="counts of ones"):
            sum_log2_from_counts(wrong, x, 2, prec)
