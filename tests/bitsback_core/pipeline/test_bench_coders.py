"""``bitsback_core.pipeline.bench``: coder specs, paper checkpoints, measurements, memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from paper_paths import PAPER, REPO_ROOT, paper_train_config

from bitsback_core.compression import ChainLayout
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import bench as bench_module
from bitsback_core.pipeline.bench import (
    DEFAULT_SPECS,
    CoderSpec,
    bench_coder,
    compare_layouts,
    encode_images,
    load_coder,
    machine_info,
    measure_memory,
    paper_checkpoint_dir,
    parse_coder_specs,
    spec_config,
)
from bitsback_core.pipeline.bench import (
    paper_train_config as bench_paper_train_config,
)
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry

MakeConfig = Callable[..., Config]


def test_parse_coder_specs() -> None:
    assert parse_coder_specs(["BB-ELBO", "is:50"]) == [CoderSpec("BB-ELBO", 1), CoderSpec("is", 50)]
    assert parse_coder_specs(["is", "cis:3"], [5, 50]) == [
        CoderSpec("is", 5),
        CoderSpec("is", 50),
        CoderSpec("cis", 3),
    ]
    assert str(CoderSpec("is", 5)) == "is:5"


@pytest.mark.parametrize(
    "tokens, particles, message",
    [
        ([":5"], (), "no coder name"),
        (["is:x"], (), "not a number"),
        (["is:0"], (), ">= 1"),
        (["is"], (0,), ">= 1"),
        ([], (), "no coders"),
    ],
)
def test_bad_coder_specs(tokens: list[str], particles: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_coder_specs(tokens, particles)


def test_default_specs_are_the_papers_headline_coders() -> None:
    assert [str(s) for s in DEFAULT_SPECS] == [
        "BitsBackCoder:1",
        "ISBitsBackCoder:50",
        "CISBitsBackCoder:50",
    ]


def test_paper_checkpoint_dir_from_the_environment_or_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BITSBACK_PAPER_CHECKPOINTS", raising=False)
    monkeypatch.chdir(REPO_ROOT)
    assert paper_checkpoint_dir().resolve() == PAPER.resolve()  # ../shared from the repository
    monkeypatch.chdir(tmp_path)  # relative to where the command runs, not to the source
    assert (
        paper_checkpoint_dir().resolve()
        == (tmp_path / ".." / "shared" / "checkpoints" / "mcbits-paper").resolve()
    )
    monkeypatch.setenv("BITSBACK_PAPER_CHECKPOINTS", str(tmp_path / "paper"))
    assert paper_checkpoint_dir() == tmp_path / "paper"


def test_paper_checkpoints(shared: Path) -> None:
    assert bench_paper_train_config(PAPER, "mnist", 50) == paper_train_config("mnist", 50)
    with pytest.raises(ConfigError, match=r"num=7.*available: .*split=mnist_num=50"):
        bench_paper_train_config(PAPER, "mnist", 7)


def test_spec_config_pairs_particles_with_the_matching_model(shared: Path) -> None:
    base = Config.from_mapping({"split": "letters", "num_compress": 3})
    config = spec_config(base, CoderSpec("is", 5), PAPER)
    assert (config.coder, config.num_particles, config.num_compress) == ("is", 5, 3)
    assert config.train_config == str(paper_train_config("letters", 5))
    # An explicit model is kept for every spec.
    own = attrs.evolve(base, train_config="/some/train_config.yml")
    assert spec_config(own, CoderSpec("cis", 50), PAPER).train_config == "/some/train_config.yml"
    with pytest.raises(ConfigError, match="no paper checkpoint"):
        spec_config(base, CoderSpec("is", 2), PAPER)


def test_bench_coder_measures_a_true_round_trip(
    make_config: MakeConfig, registry: Registry
) -> None:
    loaded = load_coder(make_config(1, coder="BitsBackCoder", num_compress=12), registry)
    x = load_images(loaded.config, registry)
    seen: dict[str, int] = {}

    def progress(description: str, total: int) -> Callable[[int], None]:
        seen[description] = 0

        def advance(n: int) -> None:
            seen[description] += n

        return advance

    result = bench_coder(loaded, x, ChainLayout(12, 4, 4), progress=progress)
    assert seen == {"encode": 12, "decode": 12}
    assert result.decode_ok is True
    assert (result.coder, result.num_particles, result.num_images, result.obs_dim) == (
        "BitsBackCoder",
        1,
        12,
        784,
    )
    assert (result.chains, result.lanes, result.device) == (4, 4, "cpu")
    assert result.ideal_bpd is not None and abs(result.net_bpd - result.ideal_bpd) < 0.02
    assert result.total_bpd * 12 * 784 == pytest.approx(
        result.net_bpd * 12 * 784 + result.initial_bits
    )
    assert result.compressed_bytes * 8 >= result.total_bpd * 12 * 784
    assert result.encode_images_per_s == pytest.approx(12 / result.encode_s)
    assert result.decode_ms_per_image == pytest.approx(1000 * result.decode_s / 12)
    # The serialized message holds the total bits plus a table per lane.
    assert result.message_bpd == pytest.approx(8 * result.compressed_bytes / (12 * 784))
    assert result.message_bpd > result.total_bpd
    assert result.numpy_peak_bytes is not None and result.numpy_peak_bytes > 0
    assert result.rss_peak_bytes > 10 * 2**20  # torch and the model are resident
    assert result.rss_scope in ("block", "process")
    assert result.gpu_peak_bytes is None and result.layout_comparison is None
    out = json.loads(json.dumps(result.as_dict()))
    for key in (
        "encode_images_per_s",
        "decode_images_per_s",
        "net_bpd",
        "total_bpd",
        "ideal_bpd",
        "rss_peak_bytes",
        "message_bpd",
    ):
        assert key in out, key


def test_bench_coder_defaults_to_the_run_layout_and_can_skip_extras(
    make_config: MakeConfig, registry: Registry
) -> None:
    loaded = load_coder(
        make_config(1, coder="BitsBackCoder", num_compress=6, chains=3, lanes=2), registry
    )
    x = load_images(loaded.config, registry)
    result = bench_coder(loaded, x, ideal=False, trace_memory=False, warmup=False)
    assert (result.chains, result.lanes) == (3, 2)
    assert result.ideal_bpd is None and result.numpy_peak_bytes is None
    assert result.decode_ok is True
    with pytest.raises(ValueError, match="layout is for 5 images"):
        bench_coder(loaded, x, ChainLayout(5, 1))
    with pytest.raises(ValueError, match="shape"):
        bench_coder(loaded, x[0])


def test_a_wrong_decode_is_reported(
    make_config: MakeConfig, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bench_module.decode_dataset

    def flip(*args: Any, **kwargs: Any) -> np.ndarray:
        out = real(*args, **kwargs)
        out[-1, -1] ^= 1
        return out

    monkeypatch.setattr(bench_module, "decode_dataset", flip)
    loaded = load_coder(make_config(1, coder="BitsBackCoder", num_compress=3), registry)
    x = load_images(loaded.config, registry)
    assert bench_coder(loaded, x, ChainLayout(3, 1), ideal=False).decode_ok is False


def test_compare_layouts_codes_the_same_images_both_ways(
    make_config: MakeConfig, registry: Registry
) -> None:
    loaded = load_coder(
        make_config(5, coder="ISBitsBackCoder", num_particles=5, num_compress=6), registry
    )
    x = load_images(loaded.config, registry)
    comparison = compare_layouts(loaded, x, ChainLayout(6, 6, 4), 4)
    # The chosen layout keeps its lanes, with at most one chain per image.
    assert (comparison.num_images, comparison.chains, comparison.lanes) == (4, 4, 4)
    sub = x[:4]
    dims = 4 * 784
    seed_net = encode_images(loaded, sub, ChainLayout(4, 1, 1)).net_bits / dims
    assert comparison.seed_layout_net_bpd == pytest.approx(seed_net)
    assert comparison.net_bpd == pytest.approx(
        encode_images(loaded, sub, ChainLayout(4, 4, 4)).net_bits / dims
    )
    assert comparison.difference == pytest.approx(comparison.net_bpd - seed_net)
    assert comparison.within_tolerance == (abs(comparison.difference) <= 0.0005)
    assert comparison.as_dict()["difference"] == comparison.difference
    with pytest.raises(ValueError, match="at least one image"):
        compare_layouts(loaded, x, ChainLayout(6, 6, 4), 0)


def test_bench_coder_attaches_the_layout_comparison(
    make_config: MakeConfig, registry: Registry
) -> None:
    loaded = load_coder(make_config(1, coder="BitsBackCoder", num_compress=4), registry)
    x = load_images(loaded.config, registry)
    result = bench_coder(loaded, x, ChainLayout(4, 2, 2), ideal=False, compare_seed_layout=10)
    assert result.layout_comparison is not None
    assert result.layout_comparison.num_images == 4  # capped at the images there are
    assert result.as_dict()["layout_comparison"]["chains"] == 2


def test_measure_memory_sees_numpy_buffers() -> None:
    with measure_memory() as peak:
        block = np.ones(40 * 2**20 // 8)
        del block
    assert peak.numpy_bytes is not None and peak.numpy_bytes >= 40 * 2**20
    assert peak.rss_bytes >= 40 * 2**20
    assert peak.gpu_bytes is None
    with measure_memory(trace=False) as untraced:
        pass
    assert untraced.numpy_bytes is None and untraced.rss_bytes > 0


def test_machine_info() -> None:
    info = machine_info()
    assert info["cpu_count"] >= 1
    assert info["load_average_1_5_15_min"] is None or len(info["load_average_1_5_15_min"]) == 3
    assert json.loads(json.dumps(info)) == info
