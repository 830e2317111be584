"""``evaluate_bounds``: negative ELBO and IWAE-K bounds of a paper model, in bits/dim."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bitsback_core.config import Config
from bitsback_core.pipeline.evaluate import EvaluateResult, evaluate_bounds
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]


def test_iwae_bound_is_tighter_than_the_elbo(make_config: MakeConfig, registry: Registry) -> None:
    result = evaluate_bounds(make_config(5, num_compress=12, num_particles=5), registry)
    assert isinstance(result, EvaluateResult)
    assert (result.split, result.dataset, result.num_compress, result.num_particles) == (
        "mnist",
        "EMNIST",
        12,
        5,
    )
    assert result.iwae_bpd <= result.elbo_bpd + 1e-3
    # A sanity band: well below 1 bit/dim (the raw size), well above zero.
    assert 0.1 < result.iwae_bpd < 0.4 and 0.1 < result.elbo_bpd < 0.4
    assert result.checkpoint.endswith("train_bin_emnist_split=mnist_num=5/model.pt")
    assert result.seconds >= 0


def test_one_particle_makes_both_bounds_the_elbo(
    make_config: MakeConfig, registry: Registry
) -> None:
    result = evaluate_bounds(make_config(1, num_compress=4, num_particles=1), registry)
    assert result.iwae_bpd == pytest.approx(result.elbo_bpd, rel=1e-12)


def test_as_dict_is_plain_json(make_config: MakeConfig, registry: Registry) -> None:
    out = evaluate_bounds(make_config(1, num_compress=2, gpu=-1), registry).as_dict()
    assert set(out) >= {
        "split",
        "num_compress",
        "num_particles",
        "elbo_bpd",
        "iwae_bpd",
        "warnings",
    }
    assert out["warnings"] == []
