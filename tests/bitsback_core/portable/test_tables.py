"""The shipped function tables of portable arithmetic: digest, content, shape, accuracy.

The tables decide every portable code, so they are checked three ways: the file's content
digest is the pinned one (and a damaged copy is refused), a sample of every table rebuilt
from scratch with the decimal arithmetic equals the shipped entries, and every table (and
the integer interpolation over it) is monotone and close to the true function, which is
computed here with ``math``/``scipy`` (test-only: the code under test never uses them).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from bitsback_core.portable import tables as tables_module
from bitsback_core.portable.formats import LATENT_BITS, TABLE_STEP_BITS
from bitsback_core.portable.tables import (
    TABLE_SPECS,
    TABLES_SHA256,
    build_entries,
    build_quantiles,
    content_sha256,
    load_tables,
    lookup,
    normal_quantiles,
    table,
)

STEP = 2.0**-TABLE_STEP_BITS


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


#: The true function of each table and a bound on ``|f''|`` over ``[a, b]`` (for the
#: interpolation error ``h**2 / 8 * max|f''|`` of one grid cell).
TRUE: dict[str, tuple[Callable[[float], float], Callable[[float, float], float]]] = {
    "tanh": (math.tanh, lambda a, b: 4.0 / (3.0 * math.sqrt(3.0))),
    "sigmoid": (lambda x: 1.0 / (1.0 + math.exp(-x)), lambda a, b: 1.0 / (6.0 * math.sqrt(3.0))),
    "ndtr": (_ndtr, lambda a, b: math.exp(-0.5) / math.sqrt(2.0 * math.pi)),
    "exp": (math.exp, lambda a, b: math.exp(b)),
    "log2": (math.log2, lambda a, b: 1.0 / (a * a * math.log(2.0))),
    "exp2": (lambda x: 2.0**x, lambda a, b: math.log(2.0) ** 2 * 2.0**b),
}
FUNCTIONS = sorted(TABLE_SPECS)


def test_every_table_has_a_reference_here() -> None:
    assert sorted(TRUE) == FUNCTIONS


# ------------------------------------------------------------------ the shipped file


def test_shipped_tables_match_the_pinned_digest() -> None:
    loaded = load_tables()
    raw = {name: tab.values for name, tab in loaded.items()}
    assert content_sha256(raw) == TABLES_SHA256
    for name in FUNCTIONS:
        spec, tab = TABLE_SPECS[name], loaded[name]
        assert tab.values.dtype == np.int64
        assert tab.values.shape == (spec.size + 1,)  # plus the repeated last entry
        assert tab.values[-1] == tab.values[-2]
        assert tab.lo_steps == spec.lo << TABLE_STEP_BITS
        assert tab.out_bits == spec.out_bits
        assert tab.last == spec.size - 1
        with pytest.raises(ValueError):
            tab.values[0] = 0  # read-only


@pytest.fixture
def fresh_tables(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run :func:`load_tables` against a patched file; restore the real cache afterwards."""
    load_tables.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    load_tables.cache_clear()
    load_tables()


def _rewrite(path: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(path, allow_pickle=False) as npz:
        raw = {name: np.array(npz[name]) for name in npz.files}
    change(raw)
    path.write_bytes(tables_module._serialize(raw))


def test_a_reserialized_copy_with_the_same_content_loads(
    tmp_path: Path, fresh_tables: pytest.MonkeyPatch
) -> None:
    """The digest covers the contents, not the zip bytes (member timestamps)."""
    copy = tmp_path / "tables.npz"
    shutil.copyfile(tables_module._TABLES_FILE, copy)
    _rewrite(copy, lambda raw: None)
    fresh_tables.setattr(tables_module, "_TABLES_FILE", copy)
    loaded = load_tables()
    np.testing.assert_array_equal(loaded["ndtr"].values, table("ndtr").values)


def _bump_one_entry(raw: dict[str, np.ndarray]) -> None:
    raw["sigmoid"][12345] += 1


def _drop_a_table(raw: dict[str, np.ndarray]) -> None:
    del raw["exp2"]


def _rename_a_table(raw: dict[str, np.ndarray]) -> None:
    raw["tanh2"] = raw.pop("tanh")


@pytest.mark.parametrize("damage", [_bump_one_entry, _drop_a_table, _rename_a_table])
def test_a_damaged_copy_is_refused(
    tmp_path: Path,
    fresh_tables: pytest.MonkeyPatch,
    damage: Callable[[dict[str, np.ndarray]], None],
) -> None:
    copy = tmp_path / "tables.npz"
    shutil.copyfile(tables_module._TABLES_FILE, copy)
    _rewrite(copy, damage)
    fresh_tables.setattr(tables_module, "_TABLES_FILE", copy)
    with pytest.raises(RuntimeError, match="damaged"):
        load_tables()


# ------------------------------------------------------------------ rebuilt from scratch


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_sample_rebuilt_with_decimal_arithmetic_equals_the_shipped_table(name: str) -> None:
    spec = TABLE_SPECS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    middle = spec.size // 2
    picks = np.unique(
        np.concatenate(
            [[0, 1, middle, spec.size - 2, spec.size - 1], rng.integers(0, spec.size, 30)]
        )
    )
    np.testing.assert_array_equal(build_entries(name, picks), table(name).values[picks])


# ------------------------------------------------------------------ shape and accuracy


@pytest.mark.parametrize("name", FUNCTIONS)
def test_tables_are_monotone(name: str) -> None:
    """All six functions increase, so their samples never decrease."""
    values = table(name).values
    assert np.all(np.diff(values) >= 0)
    assert values[-1] > values[0]


@pytest.mark.parametrize(("name", "offset"), [("tanh", 0), ("sigmoid", 1 << 32), ("ndtr", 1 << 32)])
def test_odd_functions_give_exactly_mirrored_tables(name: str, offset: int) -> None:
    """tanh(-x) = -tanh(x), sigmoid(-x) = 1 - sigmoid(x), ndtr(-x) = 1 - ndtr(x): correctly
    rounded decimal samples keep these identities exactly (no sample is a rounding tie)."""
    values = table(name).values[:-1]  # without the repeated last entry
    np.testing.assert_array_equal(values + values[::-1], offset)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_table_entries_are_the_rounded_function(name: str) -> None:
    """Every entry is ``f(x_k) * 2**out_bits`` rounded: within half a unit (plus float noise)."""
    spec, tab = TABLE_SPECS[name], table(name)
    f = TRUE[name][0]
    k = np.arange(0, spec.size, 7)
    exact = np.array([f(spec.lo + int(i) * STEP) for i in k]) * 2.0**spec.out_bits
    slack = 0.5 + 4 * np.abs(exact) * np.finfo(np.float64).eps + 1e-6
    assert np.all(np.abs(tab.values[k] - exact) <= slack)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("x_bits", [TABLE_STEP_BITS, 16, 24])
def test_lookup_is_exact_on_the_grid_and_clamps_outside(name: str, x_bits: int) -> None:
    spec, tab = TABLE_SPECS[name], table(name)
    k = np.arange(0, spec.size, 97)
    x = (spec.lo * (1 << TABLE_STEP_BITS) + k) << (x_bits - TABLE_STEP_BITS)
    np.testing.assert_array_equal(lookup(tab, x, x_bits), tab.values[k])
    far = (
        np.array([spec.lo - 5, spec.lo - 1000, spec.hi + 3, spec.hi + 1000], dtype=np.int64)
        << x_bits
    )
    np.testing.assert_array_equal(lookup(tab, far, x_bits), tab.values[[0, 0, -1, -1]])


def test_lookup_refuses_too_few_fraction_bits() -> None:
    with pytest.raises(ValueError, match="fraction bits"):
        lookup(table("tanh"), np.zeros(3, dtype=np.int64), TABLE_STEP_BITS - 1)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_lookup_is_monotone_and_close_to_the_function(name: str) -> None:
    """|lookup - f| <= 2 output units + h**2/8 max|f''| over the cell (in output units)."""
    spec, tab = TABLE_SPECS[name], table(name)
    x_bits = 24
    rng = np.random.default_rng(len(name))
    lo, hi = spec.lo << x_bits, spec.hi << x_bits
    x = np.sort(rng.integers(lo, hi + 1, 3000))
    # Every residue of a few whole cells, and both ends of the domain.
    cell = 1 << (x_bits - TABLE_STEP_BITS)
    start = ((lo + hi) // 2 // cell) * cell
    dense = np.arange(start - 2 * cell, start + 2 * cell + 1, 37)
    x = np.sort(np.concatenate([x, dense, [lo, lo + 1, hi - 1, hi]]))
    got = lookup(tab, x, x_bits)
    assert got.dtype == np.int64
    assert np.all(np.diff(got) >= 0)

    f, curvature = TRUE[name]
    scale = 2.0**spec.out_bits
    h = STEP
    xs = x / 2.0**x_bits
    cell_lo = spec.lo + np.floor((xs - spec.lo) / h) * h
    exact = np.array([f(v) for v in xs]) * scale
    bound = np.array(
        [2.0 + h * h / 8.0 * curvature(a, min(a + h, spec.hi)) * scale for a in cell_lo]
    )
    bound += 8 * np.abs(exact) * np.finfo(np.float64).eps
    err = np.abs(got - exact)
    worst = int(np.argmax(err - bound))
    assert np.all(err <= bound), (
        f"{name}({xs[worst]}): error {err[worst]:.3f} > {bound[worst]:.3f} units"
    )


# ------------------------------------------------------------------ normal quantiles


def test_shipped_quantiles_equal_a_fresh_build() -> None:
    edges, centres = normal_quantiles(8)
    fresh_edges, fresh_centres = build_quantiles(8)
    np.testing.assert_array_equal(edges, fresh_edges)
    np.testing.assert_array_equal(centres, fresh_centres)


@pytest.mark.parametrize("log_num_bucket", [8, 1, 4])
def test_quantiles_are_symmetric_increasing_and_accurate(log_num_bucket: int) -> None:
    """Shipped (8) and computed on demand (1, 4): within one grid step of scipy's ndtri."""
    n = 1 << log_num_bucket
    edges, centres = normal_quantiles(log_num_bucket)
    assert edges.dtype == np.int64 and centres.dtype == np.int64
    assert edges.shape == (n - 1,) and centres.shape == (n,)
    np.testing.assert_array_equal(edges, -edges[::-1])
    np.testing.assert_array_equal(centres, -centres[::-1])
    assert np.all(np.diff(edges) > 0) and np.all(np.diff(centres) > 0)
    # Centres and edges interleave: every bucket's centre lies inside it.
    assert np.all(centres[:-1] < edges) and np.all(edges < centres[1:])

    scale = float(1 << LATENT_BITS)
    true_edges = ndtri(np.arange(1, n) / n)
    true_centres = ndtri((np.arange(n) + 0.5) / n)
    np.testing.assert_allclose(edges / scale, true_edges, rtol=0, atol=1e-6)
    np.testing.assert_allclose(centres / scale, true_centres, rtol=0, atol=1e-6)
    # The values are the exact quantiles cut toward zero on the grid (which keeps the mirror exact).
    for got, want in ((edges, true_edges), (centres, true_centres)):
        frac = np.abs(want) * scale - np.abs(got)
        assert np.all(frac > -1e-6) and np.all(frac < 1 + 1e-6)
        assert np.all(np.sign(got) == np.sign(np.round(want * scale)))
