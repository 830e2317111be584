"""FixedGaussian: the portable (integer) Gaussian over max-entropy buckets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.distributions import DiscretizedGaussian, MaxEntropyBuckets, Uniform
from bitsback_core.distributions._portable_kernels import (
    fixed_gaussian_row_ppf,
    fixed_gaussian_table_row_ppf,
)
from bitsback_core.distributions.fixed_gaussian import (
    LOG_STD_RANGE,
    MEAN_LIMIT,
    FixedGaussian,
    FixedGaussianParams,
)
from bitsback_core.portable.formats import LATENT_BITS, MAX_PORTABLE_PREC

ONE = 1 << LATENT_BITS


def fixed(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=np.float64) * ONE).astype(np.int64)


def gaussian(mean, log_std, prec=16, full=False, log_num_bucket=8) -> FixedGaussian:  # noqa: ANN001
    return FixedGaussian(
        FixedGaussianParams(fixed(mean), fixed(log_std)), log_num_bucket, prec, full
    )


def random_params(
    rng: np.random.Generator, shape: tuple[int, ...], ls=(-4.0, 2.0)
) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    return rng.uniform(-3, 3, shape), rng.uniform(*ls, shape)


def _per_bucket(d: FixedGaussian, k: int) -> FixedGaussian:
    """``d`` with a new last batch axis of length ``k`` (every element repeated): one kernel
    call then covers every bucket of every element (a call costs a parallel launch)."""
    return d[..., None][..., np.zeros(k, dtype=np.intp)]


def all_starts(d: FixedGaussian) -> np.ndarray:
    """``start(i)`` for ``i = 0 .. N``, stacked on a new last axis."""
    n = d.num_symbols + 1
    return _per_bucket(d, n).start(np.arange(n))


def check_table(d: FixedGaussian) -> np.ndarray:
    """Endpoints, monotonicity, and ``cdf`` agreeing with ``start``; returns the start table."""
    total = 1 << d.prec
    s = all_starts(d)
    assert s.dtype == np.int64 and s.shape == d.batch_shape + (d.num_symbols + 1,)
    assert np.all(s[..., 0] == 0) and np.all(s[..., -1] == total)
    steps = np.diff(s, axis=-1)
    assert np.all(steps >= 1) if d.full_support else np.all(steps >= 0)
    start, freq = _per_bucket(d, d.num_symbols).cdf(np.arange(d.num_symbols))
    np.testing.assert_array_equal(start, s[..., :-1])
    np.testing.assert_array_equal(freq, steps)
    # Element by element, the plain batch gives the same as the expanded one.
    i = (
        np.arange(int(np.prod(d.batch_shape, dtype=np.int64))).reshape(d.batch_shape)
        % d.num_symbols
    )
    np.testing.assert_array_equal(d.start(i), np.take_along_axis(s, i[..., None], -1)[..., 0])
    return s


def check_search(
    d: FixedGaussian, rng: np.random.Generator, table: np.ndarray | None = None, rounds: int = 3
) -> None:
    """Every cumulative frequency pops the bucket whose interval holds it, with freq >= 1.

    The probes (``rounds`` random ones, 0 and ``2**prec - 1`` per element) go on a new last
    batch axis, so each check is one kernel call.
    """
    total = 1 << d.prec
    s = all_starts(d) if table is None else table
    k = rounds + 2
    probes = _per_bucket(d, k)
    cf = rng.integers(0, total, probes.batch_shape)
    cf[..., -2], cf[..., -1] = 0, total - 1
    sym, start, freq = probes.ppf_interval(cf)
    assert np.all(freq >= 1)
    assert np.all((start <= cf) & (cf < start + freq))
    np.testing.assert_array_equal(np.take_along_axis(s, sym, -1), start)
    np.testing.assert_array_equal(np.take_along_axis(s, sym + 1, -1), start + freq)
    np.testing.assert_array_equal(probes.ppf(cf), sym)
    c_start, c_freq = probes.cdf(sym)
    np.testing.assert_array_equal(c_start, start)
    np.testing.assert_array_equal(c_freq, freq)
    # Both ends of the popped interval map back to the same bucket.
    np.testing.assert_array_equal(probes.ppf(start), sym)
    np.testing.assert_array_equal(probes.ppf(start + freq - 1), sym)
    # The plain batch pops what the expanded one pops.
    np.testing.assert_array_equal(d.ppf_interval(cf[..., 0])[0], sym[..., 0])


# ------------------------------------------------------------------ the table


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("prec", [8, 16, 24, MAX_PORTABLE_PREC])
def test_starts_run_from_zero_to_total_and_never_decrease(full: bool, prec: int) -> None:
    rng = np.random.default_rng(prec)
    mean, log_std = random_params(rng, (3, 5), ls=(-6, 4))
    d = gaussian(mean, log_std, prec, full)
    assert d.batch_shape == (3, 5) and d.num_symbols == 256 and d.prec == prec
    table = check_table(d)
    check_search(d, rng, table)


@pytest.mark.parametrize("full", [False, True])
def test_every_popped_bucket_maps_back(full: bool, check_dist: Callable[..., None]) -> None:
    """The package-wide contract (cdf/ppf inverses, log_prob, slicing) on codable symbols."""
    rng = np.random.default_rng(7)
    # Enumerating every bucket costs a kernel call per bucket: 8 buckets there (the 256 of
    # the shipped edges are tiled in one call by check_table above).
    d = gaussian(*random_params(rng, (4, 6)), 16, full, log_num_bucket=3 if full else 8)
    symbols = d.ppf(rng.integers(0, 1 << 16, d.batch_shape))
    check_dist(d, symbols, rng.random(d.batch_shape), enumerate_all=full)


def test_row_program_gives_what_ppf_interval_gives() -> None:
    rng = np.random.default_rng(8)
    for full in (False, True):
        d = gaussian(*random_params(rng, (3, 7), ls=(-8, 5)), 16, full)
        program, params = d.row_program()
        for _ in range(4):
            cf = rng.integers(0, 1 << 16, d.batch_shape)
            want = d.ppf_interval(cf)
            for c in range(3):
                for j in range(7):
                    got = program(params, c, j, np.int64(cf[c, j]))
                    assert tuple(int(v) for v in got) == tuple(int(w[c, j]) for w in want)
    assert gaussian(np.zeros(4), np.zeros(4)).row_program() is None  # 1-D: the numpy path
    assert gaussian(np.zeros((1, 2, 3)), np.zeros((1, 2, 3))).row_program() is None


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("prec", [16, 24])
def test_close_to_the_float_discretized_gaussian(full: bool, prec: int) -> None:
    """The same buckets and quantization as DiscretizedGaussian, up to the fixed-point
    arguments (t has 16 fraction bits, edges and 1/std 20): two counts at prec 16."""
    rng = np.random.default_rng(9 + prec)
    mean, log_std = random_params(rng, (40,), ls=(-4, 2))
    d = FixedGaussian(FixedGaussianParams(fixed(mean), fixed(log_std)), 8, prec, full)
    n = 257  # every start, in one call each (a new last batch axis)
    ref = DiscretizedGaussian(
        np.repeat(fixed(mean)[:, None] / ONE, n, 1),
        np.repeat(np.exp(fixed(log_std) / ONE)[:, None], n, 1),
        MaxEntropyBuckets(8),
        prec,
        full,
    )
    tolerance = 2 + 2 ** (prec - 16)
    worst = int(np.abs(all_starts(d) - ref.start(np.arange(n))).max())
    assert worst <= tolerance


def test_a_centred_standard_posterior_is_nearly_uniform() -> None:
    """N(0, 1) over its own max-entropy buckets: every bucket within a count of 2**prec / N."""
    d = FixedGaussian(FixedGaussianParams(np.zeros(1, np.int64), np.zeros(1, np.int64)), 8, 16)
    freq = np.diff(all_starts(d)[0])
    assert np.all(np.abs(freq - 256) <= 1)


# ------------------------------------------------------------------ clamps


EXTREMES = [
    (1e4, 0.0),
    (-1e4, 0.0),
    (0.3, -100.0),
    (0.3, 100.0),
    (2.0**42, 2.0**42),
    (-(2.0**42), -(2.0**42)),
]


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("prec", [8, 16, MAX_PORTABLE_PREC])
def test_extreme_parameters_stay_in_range(full: bool, prec: int) -> None:
    mean = np.array([m for m, _ in EXTREMES])
    log_std = np.array([s for _, s in EXTREMES])
    d = gaussian(mean, log_std, prec, full)
    table = check_table(d)
    assert table.max() == 1 << prec and table.min() == 0
    check_search(d, np.random.default_rng(prec), table)
    # The clamp is the definition: the same table as the clamped parameters.
    clamped = FixedGaussian(
        FixedGaussianParams(
            np.clip(fixed(mean), -MEAN_LIMIT * ONE, MEAN_LIMIT * ONE),
            np.clip(fixed(log_std), LOG_STD_RANGE[0] * ONE, LOG_STD_RANGE[1] * ONE),
        ),
        8,
        prec,
        full,
    )
    np.testing.assert_array_equal(all_starts(clamped), table)


def test_int64_extremes_do_not_overflow() -> None:
    big = np.iinfo(np.int64)
    mean = np.array([big.max, big.min, 0, 0], dtype=np.int64)
    log_std = np.array([0, 0, big.max, big.min], dtype=np.int64)
    for full in (False, True):
        d = FixedGaussian(FixedGaussianParams(mean, log_std), 8, 16, full)
        check_table(d)


def test_far_means_and_narrow_posteriors_put_all_mass_in_one_bucket() -> None:
    total = 1 << 16
    d = gaussian(np.array([1e4, -1e4]), np.zeros(2))
    s = all_starts(d)
    assert s[0, -2] == 0 and s[1, 1] == total  # everything in the last / first bucket
    # log_std = -9 at a bucket centre: the neighbours are tens of std away.
    from bitsback_core.portable.tables import normal_quantiles

    centres = normal_quantiles(8)[1]
    k = np.array([0, 17, 128, 255])
    d = FixedGaussian(FixedGaussianParams(centres[k], np.full(4, -9 * ONE)), 8, 16)
    freq = np.diff(all_starts(d), axis=-1)
    np.testing.assert_array_equal(freq[np.arange(4), k], total)
    # With full support every other bucket keeps exactly one count.
    d = FixedGaussian(
        FixedGaussianParams(centres[k], np.full(4, -9 * ONE)), 8, 16, full_support=True
    )
    freq = np.diff(all_starts(d), axis=-1)
    np.testing.assert_array_equal(freq[np.arange(4), k], total - 255)
    assert np.sum(freq == 1) == 4 * 255


def test_invalid_arguments_are_refused() -> None:
    ints = FixedGaussianParams(np.zeros(3, np.int64), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="integer"):
        FixedGaussian(FixedGaussianParams(np.zeros(3), np.zeros(3, np.int64)), 8, 16)
    with pytest.raises(TypeError, match="integer"):
        FixedGaussian(FixedGaussianParams(np.zeros(3, np.int64), np.zeros(3, np.float32)), 8, 16)
    with pytest.raises(ValueError, match="prec"):
        FixedGaussian(ints, 8, MAX_PORTABLE_PREC + 1)
    with pytest.raises(ValueError, match="buckets"):
        FixedGaussian(ints, 8, 7)
    d = FixedGaussian(ints, 8, 16)
    with pytest.raises(ValueError):
        d.cdf(np.full(3, 256))
    with pytest.raises(ValueError):
        d.ppf(np.full(3, 1 << 16))
    with pytest.raises(ValueError):
        d.start(np.full(3, 257))


# ------------------------------------------------------------------ batches


def test_broadcast_and_slicing_agree_with_the_full_batch() -> None:
    rng = np.random.default_rng(11)
    mean, log_std = random_params(rng, (4, 5))
    d = gaussian(mean, log_std)
    table = all_starts(d)
    # A broadcast log_std is the same as the explicit one.
    row = gaussian(mean, np.broadcast_to(log_std[:1], (4, 5)).copy())
    np.testing.assert_array_equal(all_starts(gaussian(mean, log_std[:1])), all_starts(row))
    for key in [
        0,
        (slice(1, 3),),
        (Ellipsis, 2),
        (slice(None), slice(None, None, -2)),
        (None, 1),
        (),
    ]:
        sub = d[key]
        assert isinstance(sub, FixedGaussian)
        assert sub.batch_shape == np.empty((4, 5))[key].shape
        assert (sub.prec, sub.num_symbols, sub.full_support) == (
            d.prec,
            d.num_symbols,
            d.full_support,
        )
        bucket_key = (key if isinstance(key, tuple) else (key,)) + (slice(None),)
        np.testing.assert_array_equal(all_starts(sub), table[bucket_key])
        cf = rng.integers(0, 1 << 16, sub.batch_shape)
        full_cf = np.zeros((4, 5), dtype=np.int64)
        full_cf[key] = cf
        np.testing.assert_array_equal(sub.ppf(cf), d.ppf(full_cf)[key])
    scalar = d[1, 2]
    assert scalar.batch_shape == ()
    assert int(scalar.start(np.int64(100))) == table[1, 2, 100]
    np.testing.assert_array_equal(all_starts(scalar), table[1, 2])
    assert "FixedGaussian" in repr(d)


def test_tiled_params_repeat_along_the_latent_axis() -> None:
    rng = np.random.default_rng(12)
    params = FixedGaussianParams(*(fixed(a) for a in random_params(rng, (2, 3))))
    tiled = params.tile(4)
    assert tiled.mean.shape == (2, 12)
    d, t = FixedGaussian(params, 8, 16), FixedGaussian(tiled, 8, 16)
    np.testing.assert_array_equal(all_starts(t), np.tile(all_starts(d), (1, 4, 1)))
    mean, std = params.to_float()
    np.testing.assert_allclose(mean, params.mean / ONE)
    np.testing.assert_allclose(np.log(std), params.log_std / ONE)


def _untiled_copy(params: FixedGaussianParams) -> FixedGaussianParams:
    """The same arrays without the record of their tiling (the general code path)."""
    return FixedGaussianParams(params.mean.copy(), params.log_std.copy())


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize(
    ("log_num_bucket", "repeats", "tabled"),
    [(8, 50, True), (3, 4, True), (1, 2, True), (8, 2, False)],
)
def test_tiled_batches_pop_what_the_general_path_pops(
    full: bool, log_num_bucket: int, repeats: int, tabled: bool
) -> None:
    """Tiled posteriors clamp the untiled parameters and search a start table of each
    distinct distribution (for enough repeats): the same integers as bisection."""
    rng = np.random.default_rng(repeats * 10 + log_num_bucket)
    mean, log_std = random_params(rng, (3, 5), ls=(-12, 14))
    mean[0, :2] = [100.0, -100.0]  # clamped
    tiled = FixedGaussianParams(fixed(mean), fixed(log_std)).tile(repeats)
    t = FixedGaussian(tiled, log_num_bucket, 16, full)
    g = FixedGaussian(_untiled_copy(tiled), log_num_bucket, 16, full)
    assert (t._start_table() is not None) == tabled and g._start_table() is None
    np.testing.assert_array_equal(t._m, g._m)
    np.testing.assert_array_equal(t._inv_s, g._inv_s)
    cf = rng.integers(0, 1 << 16, t.batch_shape)
    cf[0, :3] = [0, 1, (1 << 16) - 1]
    want = g.ppf_interval(cf)
    for got, w in zip(t.ppf_interval(cf), want):
        np.testing.assert_array_equal(got, w)
    (tp, ta), (gp, ga) = t.row_program(), g.row_program()
    assert (tp is fixed_gaussian_table_row_ppf) == tabled and gp is fixed_gaussian_row_ppf
    for c in range(3):
        for j in range(t.batch_shape[1]):
            v = np.int64(cf[c, j])
            assert tuple(int(a) for a in tp(ta, c, j, v)) == tuple(int(a) for a in gp(ga, c, j, v))
    for got, w in zip(t.cdf(want[0]), g.cdf(want[0])):
        np.testing.assert_array_equal(got, w)
    sub = t[:, :7]  # slices lose the tiling, not the values
    np.testing.assert_array_equal(sub.ppf_interval(cf[:, :7])[0], want[0][:, :7])


def test_tiles_of_tiles_remember_the_untiled_parameters() -> None:
    rng = np.random.default_rng(13)
    params = FixedGaussianParams(*(fixed(a) for a in random_params(rng, (2, 3))))
    twice = params.tile(2).tile(3)
    base, repeats = twice.tiled_from
    assert base is params and repeats == 6
    np.testing.assert_array_equal(twice.mean, np.tile(params.mean, (1, 6)))
    np.testing.assert_array_equal(twice.log_std, np.tile(params.log_std, (1, 6)))
    assert twice[:, :2].tiled_from is None


def test_clamp_params_reads_the_exp_table_as_lookup_does() -> None:
    """The compiled clamp is the definition written in numpy (clip, then the table)."""
    from bitsback_core.distributions.fixed_gaussian import clamp_params
    from bitsback_core.portable.tables import lookup, table

    rng = np.random.default_rng(14)
    mean = rng.integers(-(2**40), 2**40, (4, 300))
    log_std = rng.integers(-(20 << LATENT_BITS), 20 << LATENT_BITS, (4, 300))
    mean[0, :3], log_std[0, :3] = [2**62, -(2**62), 0], [2**62, -(2**62), 0]
    m, inv_s = clamp_params(mean, log_std)
    assert m.shape == inv_s.shape == mean.shape
    np.testing.assert_array_equal(m, np.clip(mean, -MEAN_LIMIT * ONE, MEAN_LIMIT * ONE))
    ls = np.clip(log_std, LOG_STD_RANGE[0] * ONE, LOG_STD_RANGE[1] * ONE)
    np.testing.assert_array_equal(inv_s, lookup(table("exp"), -ls, LATENT_BITS))
    m1, s1 = clamp_params(mean[:1], log_std[0, 0])  # broadcasts like the constructor
    np.testing.assert_array_equal(m1, m[:1])
    np.testing.assert_array_equal(s1, np.broadcast_to(inv_s[0, 0], (1, 300)))


# ------------------------------------------------------------------ properties


@settings(max_examples=25, deadline=None)
@given(
    chains=st.integers(1, 3),
    n=st.integers(1, 5),
    log_num_bucket=st.sampled_from([1, 3, 8]),
    prec=st.integers(8, MAX_PORTABLE_PREC),
    full=st.booleans(),
    mean_scale=st.sampled_from([0.5, 3.0, 100.0]),
    ls_range=st.sampled_from([(-2.0, 1.0), (-12.0, 14.0), (-30.0, -8.0)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_parameters_keep_every_invariant(
    chains, n, log_num_bucket, prec, full, mean_scale, ls_range, seed
):  # noqa: ANN001
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, mean_scale, (chains, n))
    log_std = rng.uniform(*ls_range, (chains, n))
    d = gaussian(mean, log_std, prec, full, log_num_bucket)
    assert d.num_symbols == 1 << log_num_bucket
    table = check_table(d)
    check_search(d, rng, table, rounds=2)
    program, params = d.row_program()
    cf = rng.integers(0, 1 << prec, (chains, n))
    want = d.ppf_interval(cf)
    c, j = int(rng.integers(chains)), int(rng.integers(n))
    assert tuple(int(v) for v in program(params, c, j, np.int64(cf[c, j]))) == tuple(
        int(w[c, j]) for w in want
    )


@settings(max_examples=25, deadline=None)
@given(
    mean=st.integers(-(70 * ONE), 70 * ONE),
    log_std=st.integers(-(13 * ONE), 13 * ONE),
    shift=st.integers(1, 5 * ONE),
)
def test_moving_the_mean_right_moves_mass_right(mean: int, log_std: int, shift: int) -> None:
    """Starts never increase when the mean increases (same std): the CDF at every edge falls."""
    d = FixedGaussian(
        FixedGaussianParams(np.array([mean, mean + shift]), np.array([log_std, log_std])), 8, 16
    )
    s = all_starts(d)
    assert np.all(s[1] <= s[0])


# ------------------------------------------------------------------ through the coder


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize(("chains", "lanes"), [(1, 1), (2, 3), (3, 5)])
def test_round_trip_through_the_message(full: bool, chains: int, lanes: int) -> None:
    """Push several vectors with FixedGaussians, serialize, pop them back in reverse."""
    rng = np.random.default_rng(chains * 10 + lanes)
    msg = Message((chains, lanes), seed=3)
    LaneView(msg).push(
        Uniform(11, 8, (chains, 2 * lanes)), rng.integers(0, 11, (chains, 2 * lanes))
    )
    before = msg.copy()
    pushed = []
    for step in range(4):
        n = int(rng.integers(1, 30))
        d = gaussian(*random_params(rng, (chains, n), ls=(-6, 3)), 16, full)
        if full:
            symbols = rng.integers(0, 256, (chains, n))
        else:
            symbols = d.ppf(rng.integers(0, 1 << 16, (chains, n)))
        LaneView.for_step(msg, step).push(d, symbols)
        pushed.append((d, symbols))
    msg = msg.reread()
    for step in reversed(range(4)):
        d, symbols = pushed[step]
        got, start, freq = LaneView.for_step(msg, step).pop_intervals(d)
        np.testing.assert_array_equal(got, symbols)
        want_start, want_freq = d.cdf(symbols)
        np.testing.assert_array_equal(start, want_start)
        np.testing.assert_array_equal(freq, want_freq)
    assert msg.equals(before)


def test_bits_back_pop_then_push_restores_the_message() -> None:
    """Popping a latent (bits-back style) and pushing it back undoes the pop exactly."""
    rng = np.random.default_rng(13)
    d = gaussian(*random_params(rng, (2, 50)), 16)
    msg = Message((2, 4), seed=5)
    LaneView(msg).push(Uniform(1 << 16, 16, (2, 200)), rng.integers(0, 1 << 16, (2, 200)))
    before = msg.copy()
    z, start, freq = LaneView(msg, 3).pop_intervals(d)
    assert np.all(freq >= 1)
    np.testing.assert_array_equal(d.cdf(z), (start, freq))
    LaneView(msg, 3).push(d, z)
    assert msg.equals(before)
    # From an empty message the pop draws initial bits; pushing back leaves them on the
    # stack (net zero bits), and the same latent pops again.
    fresh = Message((2, 4), seed=5)
    z, _, _ = LaneView(fresh, 3).pop_intervals(d)
    assert fresh.initial_bits > 0
    LaneView(fresh, 3).push(d, z)
    assert fresh.net_bits == 0
    np.testing.assert_array_equal(LaneView(fresh.reread(), 3).pop_intervals(d)[0], z)
