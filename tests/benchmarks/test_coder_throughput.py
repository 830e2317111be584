"""Encode and decode throughput of BB-ELBO, BB-IS(50) and BB-CIS(50), with their bitrates.

Run with ``python -m pytest tests/benchmarks --benchmark-only`` (skipped otherwise). Each
benchmark times only the coding loop (``benchmark.pedantic`` with a setup that builds the
fresh message or parses the bytes), stores the bitrates in ``extra_info`` and asserts them:
the net rate within 0.008 bits/dim of the paper's table (a subset moves the mean by a few
thousandths) and within 0.002 of the ideal rate on the same images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from bench_cases import BENCH_ROUNDS, CASES, Prepared

from bitsback_core.compression import decode_dataset, encode_dataset
from bitsback_core.pipeline.bench import new_message

PAPER_TOLERANCE = 0.008
IDEAL_TOLERANCE = 0.002


def _record(benchmark: Any, prepared: Prepared) -> None:
    case, x = prepared.case, prepared.x
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        coder=case.spec.coder,
        num_particles=case.spec.num_particles,
        num_images=int(x.shape[0]),
        chains=prepared.layout.chains,
        lanes=prepared.layout.lanes,
        chain_groups=prepared.loaded.chain_groups(prepared.layout),
        images_per_s=x.shape[0] / best,
        ideal_bpd=prepared.ideal_bpd,
        paper_net_bpd=case.paper_net_bpd,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_encode(benchmark: Any, prepared: Callable[[str], Prepared], name: str) -> None:
    p = prepared(name)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        message = new_message(p.loaded.config, p.layout)
        return (p.loaded.coder, p.x, p.layout, message), {"groups": p.loaded.chain_groups(p.layout)}

    message = benchmark.pedantic(encode_dataset, setup=setup, rounds=BENCH_ROUNDS, iterations=1)
    dims = p.x.size
    net, total = message.net_bits / dims, message.total_bits / dims
    _record(benchmark, p)
    benchmark.extra_info.update(net_bpd=net, total_bpd=total, initial_bits=message.initial_bits)
    assert message.equals(p.encoded)  # every round codes exactly the same thing
    assert abs(net - p.case.paper_net_bpd) <= PAPER_TOLERANCE, (net, p.case.paper_net_bpd)
    assert net - p.ideal_bpd <= IDEAL_TOLERANCE, (net, p.ideal_bpd)
    assert total >= net


@pytest.mark.parametrize("name", list(CASES))
def test_decode(benchmark: Any, prepared: Callable[[str], Prepared], name: str) -> None:
    p = prepared(name)
    obs_dim = p.x.shape[1]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        groups = p.loaded.chain_groups(p.layout)
        return (p.loaded.coder, p.encoded.reread(), p.layout, obs_dim), {"groups": groups}

    decoded = benchmark.pedantic(decode_dataset, setup=setup, rounds=BENCH_ROUNDS, iterations=1)
    _record(benchmark, p)
    message = p.encoded
    net, total = message.net_bits / p.x.size, message.total_bits / p.x.size
    benchmark.extra_info.update(net_bpd=net, total_bpd=total)
    assert np.array_equal(decoded, p.x)
    assert abs(net - p.case.paper_net_bpd) <= PAPER_TOLERANCE, (net, p.case.paper_net_bpd)
    assert net - p.ideal_bpd <= IDEAL_TOLERANCE, (net, p.ideal_bpd)
