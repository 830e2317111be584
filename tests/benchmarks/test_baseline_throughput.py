"""The generic codecs on the benchmark images: speed, and bits/dim in ``extra_info``.

Run with ``python -m pytest tests/benchmarks --benchmark-only``. These give the coder
benchmarks their context: the bits-back coders must beat every one of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bench_cases import BENCH_ROUNDS, CASES

from bitsback_core.pipeline.baselines import (
    BASELINES,
    BILEVEL_BASELINES,
    image_shape,
    run_baseline,
    unavailable_baselines,
)


@pytest.mark.parametrize("name", list(BASELINES))
def test_baseline(benchmark: Any, bench_images: np.ndarray, name: str) -> None:
    if name in unavailable_baselines():
        pytest.skip(unavailable_baselines()[name])
    baseline = BASELINES[name]
    shape = image_shape(bench_images.shape[1])
    files = benchmark.pedantic(
        baseline.compress,
        setup=lambda: ((bench_images, shape), {}),
        rounds=BENCH_ROUNDS,
        iterations=1,
    )
    result = run_baseline(baseline, bench_images, shape)  # sizes, and the decode check
    benchmark.extra_info.update(
        codec=result.codec,
        scope=result.scope,
        settings=result.settings,
        num_images=result.num_images,
        bpd=result.bpd,
        images_per_s=result.num_images / benchmark.stats.stats.min,
    )
    assert sum(len(f) for f in files) == result.compressed_bytes
    assert result.lossless
    # Generic codecs know nothing of digits: every one is far above the learned coders.
    # (JBIG and the context-model frame codec do model bilevel images: no such margin.)
    if name not in BILEVEL_BASELINES:
        assert result.bpd > max(case.paper_net_bpd for case in CASES.values()) + 0.05
