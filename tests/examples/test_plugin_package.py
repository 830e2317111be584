"""The example third-party plugin package loads through the registry and codes exactly."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.config import Config
from bitsback_core.pipeline.run import run_compression
from bitsback_core.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "examples" / "plugin_package"
SHARED = REPO.parent / "shared"


@pytest.fixture
def example_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The example's plugin module, importable as if the package were installed."""
    monkeypatch.syspath_prepend(str(PACKAGE))
    import bitsback_example.plugin as plugin

    yield plugin
    for name in [m for m in sys.modules if m.startswith("bitsback_example")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_entry_point_names_the_plugin_module() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    meta = tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["bitsback"] == {"example": "bitsback_example.plugin"}


def test_the_coder_registers_and_round_trips(example_plugin: object) -> None:
    registry = load_registry(extra_plugins=[example_plugin])
    cls = registry.get("coder", "fixed-latent")
    assert cls.PLUGIN_NAME == "FixedLatentCoder"
    config = Config.from_mapping(
        {
            "train_config": str(
                SHARED
                / "checkpoints/mcbits-paper/train_bin_emnist_split=mnist_num=1/train_config.yml"
            ),
            "datadir": str(SHARED / "data" / "emnist"),
            "coder": "FixedLatentCoder",
            "num_compress": 7,
            "chains": 2,
            "lanes": 3,
        }
    )
    result = run_compression(config, registry)
    assert result.decode_ok is True
    assert result.coder == "FixedLatentCoder"
    # Net bits are the code length -log2 P(x | z0) of the quantized likelihood (up to rANS
    # rounding), and without inference that is far above the ELBO.
    from bitsback_core.pipeline.components import build_coder, build_components
    from bitsback_core.pipeline.data import load_images

    parts = build_components(config, registry, "cpu")
    coder = build_coder(config, registry, parts)
    x = load_images(config, registry)
    expected_bits = float(coder.likelihood(x.shape[0]).bits(x).sum())
    assert math.isclose(result.net_bits, expected_bits, abs_tol=x.size * 2**-7)
    assert result.net_bpd > result.ideal_bpd + 0.05
    assert np.isfinite(result.total_bpd) and result.total_bpd >= result.net_bpd
