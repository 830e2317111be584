"""``run_compression``: ideal vs real bitrates, layouts, the decode check, progress reporting."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bitsback_core import session as session_module
from bitsback_core.config import Config
from bitsback_core.models.bounds import ideal_bpd
from bitsback_core.pipeline import run as run_module
from bitsback_core.pipeline.components import build_components
from bitsback_core.pipeline.data import load_images
from bitsback_core.pipeline.layout import AUTO_LANES
from bitsback_core.pipeline.run import RunResult, run_compression
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]


def test_bits_back_net_rate_is_close_to_the_elbo(
    make_config: MakeConfig, registry: Registry
) -> None:
    result = run_compression(make_config(1, coder="BitsBackCoder", num_compress=20), registry)
    assert isinstance(result, RunResult)
    assert result.decode_ok is True
    assert (result.coder, result.num_particles, result.num_compress) == ("BitsBackCoder", 1, 20)
    assert (result.chains, result.lanes, result.obs_dim) == (1, AUTO_LANES, 784)
    assert (result.arithmetic, result.portable_format) == ("portable", 2)
    assert abs(result.net_bpd - result.ideal_bpd) < 0.02
    # Accounting: total = net + initial, all in bits; the bytes hold the total bits.
    assert result.total_bits == pytest.approx(result.net_bits + result.initial_bits)
    assert result.total_bpd == pytest.approx(result.total_bits / (20 * 784))
    assert result.net_bpd == pytest.approx(result.net_bits / (20 * 784))
    assert result.initial_bits > 0
    assert result.compressed_bytes * 8 >= result.total_bits
    assert result.encode_s >= 0 and result.decode_s is not None and result.decode_s >= 0
    assert result.checkpoint.endswith("train_bin_emnist_split=mnist_num=1/model.pt")


def test_stochastic_coder_gets_no_bits_back(make_config: MakeConfig, registry: Registry) -> None:
    bb = run_compression(make_config(1, coder="BitsBackCoder", num_compress=8), registry)
    sc = run_compression(make_config(1, coder="StochasticCoder", num_compress=8), registry)
    assert sc.decode_ok and bb.decode_ok
    # Without bits back the latent costs its full prior code length on top.
    assert sc.net_bpd > bb.net_bpd + 0.05


def test_decode_check_can_be_turned_off(make_config: MakeConfig, registry: Registry) -> None:
    result = run_compression(make_config(1, num_compress=3, decode_check=False), registry)
    assert result.decode_ok is None and result.decode_s is None
    assert result.as_dict()["decode_ok"] is None


def test_a_wrong_decode_is_reported_not_hidden(
    make_config: MakeConfig, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = run_module.decode_dataset

    def flip_first_pixel(*args: Any, **kwargs: Any) -> np.ndarray:
        out = real(*args, **kwargs)
        out[0, 0] ^= 1
        return out

    monkeypatch.setattr(run_module, "decode_dataset", flip_first_pixel)
    assert run_compression(make_config(1, num_compress=3), registry).decode_ok is False


def test_progress_phases_cover_every_image(make_config: MakeConfig, registry: Registry) -> None:
    seen: dict[str, list[int]] = {}
    totals: dict[str, int] = {}

    def factory(description: str, total: int) -> Callable[[int], None]:
        totals[description] = total
        seen[description] = []
        return seen[description].append

    run_compression(make_config(1, num_compress=5, chains=2), registry, factory)
    assert totals == {"encode": 5, "decode": 5}
    assert sum(seen["encode"]) == 5 and sum(seen["decode"]) == 5
    assert len(seen["encode"]) == 3  # ceil(5 / 2 chains) steps


def test_as_dict_is_the_json_object(make_config: MakeConfig, registry: Registry) -> None:
    result = run_compression(make_config(1, num_compress=2, gpu=-1), registry)
    out = result.as_dict()
    for key in (
        "coder",
        "num_particles",
        "split",
        "num_compress",
        "ideal_bpd",
        "net_bpd",
        "total_bpd",
        "initial_bits",
        "encode_s",
        "decode_s",
        "decode_ok",
        "chains",
        "lanes",
        "warnings",
    ):
        assert key in out
    assert out["warnings"] == []
    assert out["net_bits_per_image"] == pytest.approx(result.net_bits / 2)
    assert out["total_bits_per_image"] == pytest.approx(result.total_bits / 2)


def test_missing_cuda_falls_back_with_a_warning(
    make_config: MakeConfig, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The device is chosen where the session is built.
    monkeypatch.setattr(session_module, "resolve_device", lambda gpu: ("cpu", "no CUDA here"))
    result = run_compression(make_config(1, num_compress=2, gpu=0), registry)
    assert result.device == "cpu"
    assert result.warnings == ("no CUDA here",)


# --- ideal_bpd (models/bounds.py) on a paper model -------------------------------------


def test_ideal_bpd_is_the_mean_negative_bound_in_bits(
    make_config: MakeConfig, registry: Registry
) -> None:
    config = make_config(5, num_compress=6)
    model = build_components(config, registry).model
    x = load_images(config, registry)
    log_w = model.log_weights(x, 4, 7)  # (particles, images), nats
    by_hand = -np.mean(np.log(np.mean(np.exp(log_w.astype(np.float64)), axis=0))) / (
        784 * math.log(2)
    )
    assert ideal_bpd(model, x, 4, 7) == pytest.approx(by_hand, rel=1e-9)
    # Batches are seeded by their offset: splitting changes the draws, not the scale.
    assert ideal_bpd(model, x, 4, 7, batch_size=2) == pytest.approx(by_hand, abs=0.02)
    assert 0.1 < by_hand < 0.4


def test_chain_threads_change_the_speed_never_the_bits(
    make_config: MakeConfig, registry: Registry
) -> None:
    """``chain_threads`` 2 codes two groups of chains side by side; 1 codes them together;
    the stochastic coder (one generator for the batch) is never split."""
    runs = {
        (coder, threads): run_compression(
            make_config(1, coder=coder, num_compress=9, chains=4, chain_threads=threads), registry
        )
        for coder in ("BitsBackCoder", "StochasticCoder")
        for threads in (1, 2, None)
    }
    assert [runs["BitsBackCoder", t].chain_groups for t in (1, 2)] == [1, 2]
    assert runs["StochasticCoder", 2].chain_groups == 1
    for coder in ("BitsBackCoder", "StochasticCoder"):
        assert all(runs[coder, t].decode_ok for t in (1, 2, None))
        assert len({runs[coder, t].net_bits for t in (1, 2, None)}) == 1
        assert len({runs[coder, t].compressed_bytes for t in (1, 2, None)}) == 1
    assert runs["BitsBackCoder", 2].as_dict()["chain_groups"] == 2
