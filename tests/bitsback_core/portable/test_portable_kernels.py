"""The integer kernels of portable arithmetic: accuracy, exact cases, and purity.

(Named ``test_portable_kernels.py``: test folders have no ``__init__.py``, so a second
``test_kernels.py`` would clash with ``tests/bitsback_core/distributions/test_kernels.py``.)

Purity is checked by running the same kernels with numba disabled in a subprocess: as
plain Python on numpy integers they must give identical results, which holds only for
integer code (a float step would be free to differ between the compiled and the
interpreted version, as it may between machines).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from bitsback_core.distributions._portable_kernels import fixed_counts
from bitsback_core.portable import kernels as K
from bitsback_core.portable.formats import (
    LOG2_BITS,
    LOGIT_BITS,
    MAX_PORTABLE_PREC,
    PROB_BITS,
    TABLE_STEP_BITS,
    WEIGHT_BITS,
)
from bitsback_core.portable.kernels import (
    LOG2_OF_ZERO,
    count_one,
    exp2_weights,
    log2_fixed,
    log2_of,
    log2_table,
    table_args,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
ONE = 1 << LOG2_BITS


# ------------------------------------------------------------------ log2


def _log_uniform_ints(rng: np.random.Generator, size: int, top_bits: int = 62) -> np.ndarray:
    f = np.floor(2.0 ** rng.uniform(0.0, top_bits, size)).astype(np.int64)
    return np.maximum(f, 1)


def test_log2_is_within_2_to_minus_20_of_math_log2() -> None:
    rng = np.random.default_rng(0)
    f = np.concatenate([
        _log_uniform_ints(rng, 3000),
        rng.integers(1, 2**62, 1000),
        np.arange(1, 2000),
        [2**62 - 1, 2**62, 2**63 - 1],
    ])  # fmt: skip
    got = log2_of(f)
    assert got.dtype == np.int64 and got.shape == f.shape
    exact = np.array([math.log2(int(v)) for v in f])
    err = np.abs(got / ONE - exact)
    assert err.max() <= 2.0**-20, f"log2({f[err.argmax()]}) off by {err.max():.3g}"


def test_log2_of_powers_of_two_is_exact() -> None:
    k = np.arange(63)
    np.testing.assert_array_equal(log2_of(np.int64(1) << k), k << LOG2_BITS)


@pytest.mark.parametrize("m", [1, 3, 5, 7, 1000003, 2**30 - 1, 2**31 - 1])
def test_log2_of_a_scaled_value_shifts_by_exactly_k(m: int) -> None:
    """Doubling adds exactly one: log2(m * 2**k) - log2(m) == k << LOG2_BITS."""
    k = np.arange(0, 63 - m.bit_length() + 1)
    got = log2_of(np.int64(m) << k)
    np.testing.assert_array_equal(got - got[0], k << LOG2_BITS)


def test_log2_of_zero_and_negatives_is_the_sentinel() -> None:
    np.testing.assert_array_equal(log2_of(np.array([0, -1, -(2**62)])), [LOG2_OF_ZERO] * 3)
    assert LOG2_OF_ZERO < -(4000 * 64 << LOG2_BITS)  # far below any real log2 sum
    assert 4000 * LOG2_OF_ZERO > np.iinfo(np.int64).min  # yet 4,000 of them still sum


def test_log2_is_monotone() -> None:
    rng = np.random.default_rng(1)
    runs = [np.arange(1, 5000)] + [
        np.arange(s, s + 3000) for s in (2**20 - 1500, 2**31 - 1500, 2**40 - 7, 2**62 - 3000)
    ]
    for f in runs + [np.sort(_log_uniform_ints(rng, 5000))]:
        assert np.all(np.diff(log2_of(f)) >= 0)


def test_log2_keeps_the_shape_and_matches_the_scalar_kernel() -> None:
    rng = np.random.default_rng(2)
    f = rng.integers(0, 2**40, (3, 4, 5))
    got = log2_of(f)
    assert got.shape == (3, 4, 5)
    lg = table_args("log2")
    np.testing.assert_array_equal(
        got.reshape(-1), [log2_fixed(np.int64(v), *lg) for v in f.reshape(-1)]
    )


def test_log2_table_equals_log2_of_every_frequency() -> None:
    t = log2_table(16)
    np.testing.assert_array_equal(t, log2_of(np.arange((1 << 16) + 1)))
    assert t[0] == LOG2_OF_ZERO and t[1] == 0 and t[1 << 16] == 16 << LOG2_BITS
    assert log2_table(16) is t  # cached
    with pytest.raises(ValueError):
        t[5] = 0
    for bad in (-1, 25):
        with pytest.raises(ValueError, match="precisions up to 24"):
            log2_table(bad)


@pytest.mark.parametrize("prec", [8, 16, 17])
def test_sum_log2_of_is_the_row_sum_of_log2_of(prec: int) -> None:
    """Through the cached table up to 16 bits, through the kernel above; zeros included."""
    rng = np.random.default_rng(prec)
    f = rng.integers(0, (1 << prec) + 1, (3, 4, 50))
    f[0, 0, :3] = [0, 1, 1 << prec]
    got = K.sum_log2_of(f, prec)
    assert got.shape == (3, 4) and got.dtype == np.int64
    np.testing.assert_array_equal(got, log2_of(f).sum(axis=-1))
    neg = np.array([[-1, 5], [3, 2]])  # not frequencies, but no silent wrap-around either
    np.testing.assert_array_equal(K.sum_log2_of(neg, 8), log2_of(neg).sum(axis=-1))


# ------------------------------------------------------------------ count_one


#: max |sigmoid''| = 1 / (6 sqrt 3); table step h = 2**-TABLE_STEP_BITS.
_SIGMOID_INTERP = (2.0**-TABLE_STEP_BITS) ** 2 / 8 / (6 * math.sqrt(3.0))


def _counts(logits: np.ndarray, prec: int) -> np.ndarray:
    return fixed_counts(np.atleast_2d(logits), prec, LOGIT_BITS, table_args("sigmoid")).reshape(
        np.shape(logits)
    )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _true_counts(logits: np.ndarray, prec: int) -> np.ndarray:
    p = np.array([_sigmoid(v / 2.0**LOGIT_BITS) for v in logits.reshape(-1)])
    return np.clip(np.round(p * 2.0**prec), 1, 2**prec - 1).reshape(logits.shape)


@pytest.mark.parametrize("prec", [1, 2, 8, 12, 16, 20, 24, 30])
def test_count_one_rounds_the_sigmoid(prec: int) -> None:
    """Within one count of round(sigmoid * 2**prec) wherever the table's own error is below
    one count (prec <= 24); at higher precision within that error, scaled."""
    rng = np.random.default_rng(prec)
    logits = np.concatenate([
        rng.integers(-(40 << LOGIT_BITS), 40 << LOGIT_BITS, 4000),
        rng.integers(-(3 << LOGIT_BITS), 3 << LOGIT_BITS, 2000),
        [0, 1, -1, 2**50, -(2**50), 2**40 + 12345, -(2**40)],
    ])  # fmt: skip
    got = _counts(logits, prec)
    assert got.dtype == np.int64
    assert got.min() >= 1 and got.max() <= 2**prec - 1
    table_error = (2.0 + _SIGMOID_INTERP * 2.0**PROB_BITS) * 2.0 ** (prec - PROB_BITS)
    err = np.abs(got - _true_counts(logits, prec))
    assert err.max() <= 1 + table_error, (
        f"prec {prec}: off by {err.max()} at logit {logits[err.argmax()]}"
    )
    if prec <= 24:
        assert err.max() <= 1


@pytest.mark.parametrize("prec", [4, 16, MAX_PORTABLE_PREC])
def test_count_one_is_monotone_and_saturates(prec: int) -> None:
    logits = np.arange(-(34 << LOGIT_BITS), 34 << LOGIT_BITS, 97)
    got = _counts(logits, prec)
    assert np.all(np.diff(got) >= 0)
    assert got[0] == 1 and got[-1] == 2**prec - 1
    assert _counts(np.array([0]), prec)[0] == 2 ** (prec - 1)  # sigmoid(0) = 1/2 exactly


def test_count_one_scalar_kernel_matches_the_batch_kernel() -> None:
    rng = np.random.default_rng(3)
    logits = rng.integers(-(20 << LOGIT_BITS), 20 << LOGIT_BITS, 200)
    sig = table_args("sigmoid")
    for prec in (8, 16, 30):
        want = _counts(logits, prec)
        got = [count_one(np.int64(v), np.int64(prec), *sig, np.int64(LOGIT_BITS)) for v in logits]
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ exp2 weights


def test_exp2_weights_top_is_exactly_one_and_ratios_are_powers_of_two() -> None:
    rng = np.random.default_rng(4)
    lw = rng.integers(-(300 << LOG2_BITS), 50 << LOG2_BITS, (200, 9))
    lw[:20, 2] = lw[:20, 5]  # ties for the top
    w = exp2_weights(lw)
    assert w.dtype == np.int64 and w.shape == lw.shape
    top = 1 << WEIGHT_BITS
    np.testing.assert_array_equal(w.max(axis=1), top)
    np.testing.assert_array_equal(w[np.arange(200), lw.argmax(axis=1)], top)
    d = (lw.max(axis=1, keepdims=True) - lw) / ONE
    exact = 2.0**-d * top
    # floor (1 unit) + table rounding and interpolation (relative 2**-30 and h**2/8 ln2**2).
    bound = 1.0 + exact * (2.0**-29 + (2.0**-TABLE_STEP_BITS) ** 2 / 8 * math.log(2.0) ** 2)
    assert np.all(np.abs(w - exact) <= bound)
    assert np.all(w[d < WEIGHT_BITS] >= 1)  # every particle within 2**-30 of the best keeps weight
    assert np.all(w[d >= WEIGHT_BITS + 1] == 0)


def test_exp2_weights_are_shift_invariant_monotone_and_shape_preserving() -> None:
    rng = np.random.default_rng(5)
    lw = rng.integers(-(40 << LOG2_BITS), 0, (4, 3, 16))
    w = exp2_weights(lw)
    assert w.shape == (4, 3, 16)
    np.testing.assert_array_equal(exp2_weights(lw + (123 << LOG2_BITS) + 4567), w)
    np.testing.assert_array_equal(exp2_weights(lw[1:2, 2]), w[1:2, 2])
    order = np.argsort(lw, axis=-1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(w, order, axis=-1), axis=-1) >= 0)


def test_exp2_weights_of_log_zero_particles_are_zero() -> None:
    lw = np.array([[0, LOG2_OF_ZERO, -(3 << LOG2_BITS), LOG2_OF_ZERO]], dtype=np.int64)
    np.testing.assert_array_equal(
        exp2_weights(lw), [[1 << WEIGHT_BITS, 0, 1 << (WEIGHT_BITS - 3), 0]]
    )


# ------------------------------------------------------------------ purity

#: Run in this process (compiled) and in a subprocess with NUMBA_DISABLE_JIT=1 (Python).
_DIGESTS = r"""
import hashlib
import numpy as np
from bitsback_core.distributions._portable_kernels import fixed_counts, sum_log2_from_counts
from bitsback_core.distributions.bernoulli import Bernoulli
from bitsback_core.distributions.fixed_gaussian import FixedGaussian, FixedGaussianParams, clamp_params
from bitsback_core.portable import kernels as K
from bitsback_core.portable.formats import LATENT_BITS, LOG2_BITS, LOGIT_BITS


def _h(*arrays):
    d = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        d.update(repr(a.shape).encode())
        d.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return d.hexdigest()


def digests():
    rng = np.random.default_rng(20240601)
    out = {}
    f = np.concatenate([np.arange(0, 70), np.floor(2.0 ** rng.uniform(0, 62, 300)).astype(np.int64), [2**62, 2**63 - 1]])
    out["log2_of"] = _h(K.log2_of(f))
    lg = K.table_args("log2")
    out["log2_fixed"] = _h([K.log2_fixed(np.int64(v), *lg) for v in f[::7]])
    out["log2_table"] = _h(K.log2_table(11))
    logits = rng.integers(-40 << LOGIT_BITS, 40 << LOGIT_BITS, (6, 40))
    logits[0, :4] = [2**50, -2**50, 0, 1]
    sig = K.table_args("sigmoid")
    for prec in (1, 8, 16, 30):
        out["counts%d" % prec] = _h(fixed_counts(logits, prec, LOGIT_BITS, sig))
    lw = rng.integers(-60 << LOG2_BITS, 0, (5, 7))
    lw[0, 3] = K.LOG2_OF_ZERO
    out["exp2_weights"] = _h(K.exp2_weights(lw))
    x = rng.integers(0, 2, (3, 40)).astype(np.uint8)
    coins = Bernoulli.from_fixed_logits(logits, 11)
    out["sum_log2_fused"] = _h(coins.sum_log2_rows(x, repeat=2))
    out["sum_log2_counts"] = _h(sum_log2_from_counts(coins.count_one, x, 2, 11))
    mean = rng.integers(-5 << LATENT_BITS, 5 << LATENT_BITS, (3, 8))
    log_std = rng.integers(-4 << LATENT_BITS, 2 << LATENT_BITS, (3, 8))
    mean[2, :3] = [2**40, -2**40, 0]
    log_std[2, 3:6] = [2**40, -2**40, -9 << LATENT_BITS]
    for full in (False, True):
        g = FixedGaussian(FixedGaussianParams(mean, log_std), 8, 16, full)
        starts = [g.start(np.full(g.batch_shape, i)) for i in range(0, 257, 4)]
        cf = rng.integers(0, 1 << 16, g.batch_shape)
        sym, start, freq = g.ppf_interval(cf)
        program, params = g.row_program()
        rows = [program(params, c, j, np.int64(cf[c, j])) for c in range(3) for j in range(8)]
        out["gaussian%d" % full] = _h(np.stack(starts), sym, start, freq, np.array(rows, dtype=np.int64))
        tiled = FixedGaussian(FixedGaussianParams(mean, log_std).tile(40), 8, 16, full)
        cf = rng.integers(0, 1 << 16, tiled.batch_shape)
        program, params = tiled.row_program()
        rows = [program(params, c, j, np.int64(cf[c, j])) for c in range(3) for j in range(0, 320, 7)]
        out["tiled%d" % full] = _h(*tiled.ppf_interval(cf), np.array(rows, dtype=np.int64))
    acc = rng.integers(-(2**52), 2**52, (6, 40)).astype(np.float64)
    coins = Bernoulli.from_fixed_accumulator(acc, 23, 16)
    out["accumulator"] = _h(coins.sum_log2_rows(x, repeat=2), coins.count_one)
    out["clamp"] = _h(*clamp_params(mean, log_std))
    return out
"""


def _in_process_digests() -> dict[str, str]:
    namespace: dict[str, object] = {}
    exec(compile(_DIGESTS, "<portable digests>", "exec"), namespace)  # noqa: S102 - our own test code
    return namespace["digests"]()  # type: ignore[operator]


@pytest.fixture(scope="module")
def compiled_digests() -> dict[str, str]:
    assert isinstance(K.log2_fixed, numba.core.dispatcher.Dispatcher), (
        "numba is disabled in this process"
    )
    return _in_process_digests()


def test_kernels_are_pure_integer_code_identical_without_numba(
    compiled_digests: dict[str, str],
) -> None:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    script = _DIGESTS + (
        "\nimport json, numba\n"
        "from bitsback_core.portable import kernels\n"
        "print(json.dumps({'disabled': bool(numba.config.DISABLE_JIT),"
        " 'compiled': isinstance(kernels.log2_fixed, numba.core.dispatcher.Dispatcher),"
        " 'digests': digests()}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["disabled"] and not result["compiled"]
    assert result["digests"].keys() == compiled_digests.keys()
    differing = [k for k in compiled_digests if result["digests"][k] != compiled_digests[k]]
    assert not differing, f"compiled and interpreted kernels disagree on {differing}"


def test_kernels_do_not_depend_on_the_thread_count(compiled_digests: dict[str, str]) -> None:
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _in_process_digests() == compiled_digests
    finally:
        numba.set_num_threads(before)
