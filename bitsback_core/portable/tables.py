"""Function tables of portable arithmetic, built with exactly rounded decimal arithmetic.

Non-linear functions (tanh, the sigmoid, the normal CDF, exp, log2, 2**x) are never taken
from libm, numpy or scipy while coding: their results differ in the last bit between
libraries and CPUs, and one differing bit can change a quantized frequency. Instead each
function is sampled on a fixed grid, every sample computed with Python's ``decimal`` (a
software implementation, identical everywhere) at 60 significant digits and rounded to an
integer. Between grid points the integer kernels interpolate linearly in integers
(:func:`lookup`).

The tables are shipped as package data (``tables.npz``) because building the normal CDF
table takes several seconds; :func:`load_tables` checks the file's SHA-256 against
:data:`TABLES_SHA256` before anything uses it, and the tests rebuild samples of every
table with :func:`build_entries` and compare. ``python -m bitsback_core.portable.tables``
rebuilds the file.

Bucket edges and centres of the max-entropy discretizer (normal quantiles) are computed
on demand (:func:`normal_quantiles`) with the same decimal arithmetic.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.portable.formats import (
    ACT_BITS,
    LATENT_BITS,
    LOG2_BITS,
    PROB_BITS,
    TABLE_STEP_BITS,
)

__all__ = [
    "FunctionTable",
    "TABLE_SPECS",
    "TABLES_SHA256",
    "build_entries",
    "build_table",
    "load_tables",
    "lookup",
    "build_quantiles",
    "normal_quantiles",
    "table",
]

_DIGITS = 60
_TABLES_FILE = Path(__file__).with_name("tables.npz")
#: SHA-256 of ``tables.npz``: the tables every portable file is coded with. Changing a
#: table changes the bytes of every file, so this constant only changes with a format bump.
TABLES_SHA256 = "e7b640a8ec1631d074f1850879808813d926c0207690bc53baf2e2699d4ca97a"


def _ctx() -> Context:
    return Context(prec=_DIGITS)


def _exp(x: Decimal) -> Decimal:
    return x.exp(_ctx())


def _tanh(x: Decimal) -> Decimal:
    c = _ctx()
    return c.subtract(
        Decimal(1), c.divide(Decimal(2), c.add(_exp(c.multiply(Decimal(2), x)), Decimal(1)))
    )


def _sigmoid(x: Decimal) -> Decimal:
    c = _ctx()
    return c.divide(Decimal(1), c.add(Decimal(1), _exp(-x)))


def _ndtr(x: Decimal) -> Decimal:
    """Standard normal CDF: ``1/2 + pdf(x) * sum x**(2n+1) / (2n+1)!!`` (terms of one sign)."""
    with localcontext(_ctx()) as c:
        c.prec = _DIGITS + 20  # the sum reaches e**(x*x/2) before pdf(x) scales it back
        x2 = x * x
        term, total, n = x, x, 0
        while abs(term) > Decimal(10) ** (-(_DIGITS + 30)) * max(abs(total), Decimal(1)):
            n += 1
            term = term * x2 / (2 * n + 1)
            total += term
        pdf = (-x2 / 2).exp() / _two_pi().sqrt()
        return Decimal(1) / 2 + pdf * total


@functools.lru_cache(maxsize=1)
def _two_pi() -> Decimal:
    """2*pi to 80 digits (Machin's formula in integers), with no float in sight."""
    digits = _DIGITS + 25
    unity = 10 ** (digits + 10)

    def arctan_inv(k: int) -> int:
        total, term, n, sign = 0, unity // k, 1, 1
        while term:
            total += sign * (term // n)
            term //= k * k
            n += 2
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))
    return Decimal(2 * pi) / Decimal(unity)


def _log2(x: Decimal) -> Decimal:
    c = _ctx()
    return c.divide(x.ln(c), Decimal(2).ln(c))


def _exp2(x: Decimal) -> Decimal:
    c = _ctx()
    return _exp(c.multiply(x, Decimal(2).ln(c)))


@attrs.frozen
class TableSpec:
    """A function sampled on ``[lo, hi]`` every ``2**-TABLE_STEP_BITS``, output with ``out_bits``."""

    name: str
    function: Callable[[Decimal], Decimal]
    lo: int
    hi: int
    out_bits: int

    @property
    def size(self) -> int:
        return (self.hi - self.lo) * (1 << TABLE_STEP_BITS) + 1


TABLE_SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("tanh", _tanh, -8, 8, ACT_BITS),
        TableSpec("sigmoid", _sigmoid, -32, 32, PROB_BITS),
        TableSpec("ndtr", _ndtr, -8, 8, PROB_BITS),
        TableSpec("exp", _exp, -12, 12, LATENT_BITS),
        TableSpec("log2", _log2, 1, 2, LOG2_BITS),
        TableSpec("exp2", _exp2, -1, 0, PROB_BITS),
    )
}


def _round(value: Decimal, bits: int) -> int:
    scaled = _ctx().multiply(value, Decimal(1 << bits))
    return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))


def build_entries(name: str, indices: np.ndarray) -> np.ndarray:
    """Entries ``indices`` of table ``name``, computed afresh (int64)."""
    spec = TABLE_SPECS[name]
    step = Decimal(1) / Decimal(1 << TABLE_STEP_BITS)
    out = [
        _round(spec.function(Decimal(spec.lo) + Decimal(int(k)) * step), spec.out_bits)
        for k in indices
    ]
    return np.array(out, dtype=np.int64)


def build_table(name: str) -> np.ndarray:
    """The whole table, plus one repeated last entry (so interpolation may read ``i + 1``)."""
    values = build_entries(name, np.arange(TABLE_SPECS[name].size))
    return np.append(values, values[-1])


@attrs.frozen(eq=False)
class FunctionTable:
    """A loaded table: integer samples and where the grid starts (in grid steps)."""

    name: str
    values: np.ndarray
    lo_steps: int
    out_bits: int

    @property
    def last(self) -> int:
        """Largest grid index (the table holds one more, repeated entry)."""
        return self.values.shape[0] - 2


def content_sha256(tables: dict[str, np.ndarray]) -> str:
    """SHA-256 of the tables' names and little-endian int64 contents (not of the zip file,
    whose member timestamps change with every rebuild)."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(
            name.encode() + b"\0" + np.ascontiguousarray(tables[name], dtype="<i8").tobytes()
        )
    return digest.hexdigest()


def _serialize(tables: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    arrays = {k: tables[k].astype("<i8") for k in sorted(tables)}
    # numpy's stub types **kwds against its own keyword allow_pickle: bool; these are arrays.
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def load_tables() -> dict[str, FunctionTable]:
    """The shipped tables, after checking their SHA-256."""
    with np.load(_TABLES_FILE, allow_pickle=False) as npz:
        raw = {name: npz[name] for name in npz.files}
    digest = content_sha256(raw)
    if digest != TABLES_SHA256:
        raise RuntimeError(
            f"portable arithmetic tables {_TABLES_FILE} are damaged (sha256 {digest[:12]}..., "
            f"expected {TABLES_SHA256[:12]}...): reinstall bitsback"
        )
    out = {}
    for name, values in raw.items():
        values = np.ascontiguousarray(values, dtype=np.int64)
        values.setflags(write=False)
        spec = TABLE_SPECS.get(name)
        lo = 0 if spec is None else spec.lo << TABLE_STEP_BITS
        out[name] = FunctionTable(name, values, lo, LATENT_BITS if spec is None else spec.out_bits)
    return out


def table(name: str) -> FunctionTable:
    return load_tables()[name]


def lookup(tab: FunctionTable, x: np.ndarray, x_bits: int) -> np.ndarray:
    """``f(x)`` for fixed-point ``x`` (``x_bits`` fraction bits), interpolated in integers.

    ``u = x - lo`` on the grid of ``2**-x_bits``, clamped to the table's domain; the grid
    point below is ``i = u >> k`` and the remainder ``r`` (``k = x_bits - TABLE_STEP_BITS``);
    the result is ``T[i] + floor((T[i+1] - T[i]) * r / 2**k)``, monotone wherever ``T`` is.
    """
    k = x_bits - TABLE_STEP_BITS
    if k < 0:
        raise ValueError(f"lookup needs at least {TABLE_STEP_BITS} fraction bits, got {x_bits}")
    u = np.asarray(x, dtype=np.int64) - (np.int64(tab.lo_steps) << np.int64(k))
    u = np.clip(u, 0, np.int64(tab.last) << np.int64(k))
    i = u >> np.int64(k)
    r = u - (i << np.int64(k))
    lo = tab.values[i]
    return lo + (((tab.values[i + 1] - lo) * r) >> np.int64(k))


def _quantile(p: Decimal) -> Decimal:
    """The normal quantile of ``p`` by Newton's method on :func:`_ndtr`."""
    c = _ctx()
    x = Decimal(repr(_float_quantile_guess(float(p))))
    for _ in range(60):
        pdf = (-(x * x) / 2).exp(c) / _two_pi().sqrt(c)
        step = c.divide(c.subtract(_ndtr(x), p), pdf)
        x = c.subtract(x, step)
        if abs(step) < Decimal(10) ** -(_DIGITS - 10):
            break
    return x


def _float_quantile_guess(p: float) -> float:
    """A starting point only: Newton converges to the same decimal value from any nearby guess."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(p, 1e-300), 1 - 1e-16))


#: Bucket counts whose quantiles ship in ``tables.npz`` (the seed's ``log_num_bucket: 8``).
SHIPPED_QUANTILES = (8,)


@functools.lru_cache(maxsize=8)
def normal_quantiles(log_num_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Max-entropy bucket edges (inner ``N - 1``) and centres (``N``), ``LATENT_BITS`` fixed point.

    Edge ``i`` is the normal quantile of ``i / N``, centre ``i`` that of ``(i + 1/2) / N``.
    The lower half is computed and the upper half mirrored, so the values are exactly
    symmetric. Results are cut toward zero on the grid, ``sign(q) * floor(|q| * 2**20)``
    (which keeps the mirror exact; a value never sits on a rounding boundary at 60 digits,
    so the cut is the same everywhere).
    """
    if log_num_bucket in SHIPPED_QUANTILES:
        shipped = load_tables()
        return shipped[f"edges{log_num_bucket}"].values, shipped[f"centres{log_num_bucket}"].values
    return build_quantiles(log_num_bucket)


def build_quantiles(log_num_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normal_quantiles`, computed afresh (about 0.9 s for 256 buckets)."""
    n = 1 << log_num_bucket
    scale = Decimal(1 << LATENT_BITS)

    def fixed(p_num: int, p_den: int) -> int:
        if 2 * p_num == p_den:
            return 0
        if 2 * p_num > p_den:
            return -fixed(p_den - p_num, p_den)
        q = _quantile(Decimal(p_num) / Decimal(p_den))
        return -int((-q * scale).to_integral_value(rounding=ROUND_FLOOR))

    edges = np.array([fixed(i, n) for i in range(1, n)], dtype=np.int64)
    centres = np.array([fixed(2 * i + 1, 2 * n) for i in range(n)], dtype=np.int64)
    edges.setflags(write=False)
    centres.setflags(write=False)
    return edges, centres


def _write() -> None:
    tables = {name: build_table(name) for name in TABLE_SPECS}
    for log_num_bucket in SHIPPED_QUANTILES:
        edges, centres = build_quantiles(log_num_bucket)
        tables[f"edges{log_num_bucket}"], tables[f"centres{log_num_bucket}"] = edges, centres
    data = _serialize(tables)
    _TABLES_FILE.write_bytes(data)
    print(f"wrote {_TABLES_FILE} ({len(data)} bytes), content sha256 {content_sha256(tables)}")


if __name__ == "__main__":
    _write()
