"""Fixtures of the benchmark suite: the paper's models loaded once, the images, the cases.

Everything here is setup, done before pytest-benchmark starts a clock: loading a model,
loading and binarizing the images, the ideal bitrate, and one untimed encode per coder
(which also warms the model up and gives the decode benchmark its bytes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from bench_cases import BENCH_IMAGES, CASES, EMNIST, PAPER, SHARED, Prepared

from bitsback_core.compression import ChainLayout
from bitsback_core.config import Config
from bitsback_core.pipeline.bench import encode_images, load_coder, spec_config
from bitsback_core.pipeline.data import load_images
from bitsback_core.pipeline.run import ideal_bpd
from bitsback_core.registry import Registry, load_registry


@pytest.fixture(scope="session")
def bench_registry() -> Registry:
    if not (PAPER.is_dir() and EMNIST.is_dir()):
        pytest.skip(f"shared checkpoints/data under {SHARED} are absent")
    return load_registry()


@pytest.fixture(scope="session")
def bench_config(bench_registry: Registry) -> Config:
    return Config.from_mapping(
        {"datadir": str(EMNIST), "split": "mnist", "num_compress": BENCH_IMAGES}
    )


@pytest.fixture(scope="session")
def bench_images(bench_config: Config, bench_registry: Registry) -> np.ndarray:
    return load_images(bench_config, bench_registry)


@pytest.fixture(scope="session")
def prepared(
    bench_config: Config, bench_registry: Registry, bench_images: np.ndarray
) -> Callable[[str], Prepared]:
    """``prepared(name)``: the case of :data:`CASES` ready to time, built once per session."""
    cache: dict[str, Prepared] = {}

    def get(name: str) -> Prepared:
        if name not in cache:
            case = CASES[name]
            loaded = load_coder(spec_config(bench_config, case.spec, PAPER), bench_registry)
            num = bench_images.shape[0]
            layout = ChainLayout(num, min(case.chains, num), case.lanes)
            ideal = ideal_bpd(
                loaded.components.model, bench_images, case.spec.num_particles, bench_config.seed
            )
            encoded = encode_images(loaded, bench_images, layout)
            cache[name] = Prepared(case, loaded, bench_images, layout, ideal, encoded)
        return cache[name]

    return get
