"""``bitsback bench coders``'s library half: throughput, bitrates and memory of the coders.

One measurement codes a set of images with one coder in one chain layout: encode onto a
fresh message, serialize it, decode from the bytes with a strict message, compare. What
it reports and why:

* images/s for encode and decode, timed around :func:`encode_dataset` and
  :func:`decode_dataset` only: loading the model and the images happens once, before, and
  is the same cost whatever the coder does, so including it would hide the coder's speed;
* net and total bits/dim (and the ideal, the negative bound the net rate should meet):
  the layout trades total for speed, since every chain and lane pays its own initial bits
  and final head, so a speed figure means little without the total it cost;
* peak memory from two sources that answer different questions. The process peak RSS
  (``getrusage``) is the real footprint, model, torch and images included; it comes from
  the timed pass. On Linux the kernel's high-water mark is reset first
  (``/proc/self/clear_refs``), so it covers that pass only; elsewhere it is the process's
  peak so far, and the result says which (``rss_scope``). ``tracemalloc`` (numpy registers
  its buffers with it) gives the coder's own array working set, from a *second, untimed*
  encode and decode: tracing records every allocation, which costs a few percent with
  wide layouts but made one chain, one lane (thousands of tiny numpy calls per image)
  four times slower when measured, so it must never run under the clock.

A layout comparison re-codes the first images with the same coder in the chosen layout
and in the seed's one chain, one lane, and reports the net difference: the layout must
change speed and total bits, never the net rate.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline.components import portable_format_of
from bitsback_core.pipeline.layout import new_message
from bitsback_core.pipeline.progress import ProgressFactory, no_progress
from bitsback_core.registry import Registry
from bitsback_core.session import CodingSession

__all__ = [
    "DEFAULT_SPECS",
    "SEED_LAYOUT_TOLERANCE",
    "CoderBenchResult",
    "CoderSpec",
    "LayoutComparison",
    "LoadedCoder",
    "MemoryPeak",
    "bench_coder",
    "compare_layouts",
    "encode_images",
    "load_coder",
    "machine_info",
    "measure_memory",
    "new_message",
    "paper_checkpoint_dir",
    "paper_train_config",
    "parse_coder_specs",
    "spec_config",
]

#: Issue 5's bound on how far the chosen layout's net rate may be from one chain, one lane.
SEED_LAYOUT_TOLERANCE = 0.0005


@attrs.frozen
class CoderSpec:
    """A coder by registry name and its number of particles."""

    coder: str
    num_particles: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __str__(self) -> str:
        return f"{self.coder}:{self.num_particles}"


#: The paper's headline coders: BB-ELBO, BB-IS(50), BB-CIS(50).
DEFAULT_SPECS: tuple[CoderSpec, ...] = (
    CoderSpec("BitsBackCoder", 1),
    CoderSpec("ISBitsBackCoder", 50),
    CoderSpec("CISBitsBackCoder", 50),
)


def parse_coder_specs(tokens: Sequence[str], particles: Sequence[int] = ()) -> list[CoderSpec]:
    """``NAME`` or ``NAME:N`` tokens; a bare ``NAME`` takes every N in ``particles`` (default 1).

    >>> [str(s) for s in parse_coder_specs(["BB-ELBO", "BB-IS:5"])]
    ['BB-ELBO:1', 'BB-IS:5']
    """
    specs: list[CoderSpec] = []
    for token in tokens:
        name, sep, count = token.partition(":")
        if not name:
            raise ValueError(f"coder spec {token!r} has no coder name (expected NAME or NAME:N)")
        if sep:
            try:
                n = int(count)
            except ValueError:
                raise ValueError(
                    f"coder spec {token!r}: {count!r} is not a number of particles"
                ) from None
            if n < 1:
                raise ValueError(f"coder spec {token!r}: the number of particles must be >= 1")
            specs.append(CoderSpec(name, n))
        else:
            for n in particles or (1,):
                if n < 1:
                    raise ValueError(f"the number of particles must be >= 1, got {n}")
                specs.append(CoderSpec(name, n))
    if not specs:
        raise ValueError("no coders to benchmark")
    return specs


#: Environment variable naming the folder of the paper's checkpoints.
PAPER_CHECKPOINTS_ENV = "BITSBACK_PAPER_CHECKPOINTS"
#: The default when neither ``--checkpoint_dir`` nor the variable is set, relative to the
#: working directory (the repository root, with ``shared/`` beside the repository).
PAPER_CHECKPOINTS_DEFAULT = Path("..") / "shared" / "checkpoints" / "mcbits-paper"


def paper_checkpoint_dir() -> Path:
    """The paper's models: ``$BITSBACK_PAPER_CHECKPOINTS``, else ``../shared/checkpoints/mcbits-paper``.

    Never derived from where this file is installed: a non-editable install has no
    repository around it.
    """
    configured = os.environ.get(PAPER_CHECKPOINTS_ENV, "")
    return Path(configured).expanduser() if configured else PAPER_CHECKPOINTS_DEFAULT


def paper_train_config(checkpoint_dir: Path, split: str, num: int) -> Path:
    """The paper's model for ``split`` trained with ``num`` particles; a clear error if absent."""
    path = Path(checkpoint_dir) / f"train_bin_emnist_split={split}_num={num}" / "train_config.yml"
    if not path.is_file():
        have = sorted(p.parent.name for p in Path(checkpoint_dir).glob("*/train_config.yml"))
        raise ConfigError(
            f"no paper checkpoint for split={split} num={num} ({path} is missing); "
            f"available: {', '.join(have) or 'none'}. Pass --checkpoint_dir or --train_config"
        )
    return path


def spec_config(config: Config, spec: CoderSpec, checkpoint_dir: Path | None = None) -> Config:
    """``config`` for ``spec``: its coder and particles, and its model.

    An explicit ``train_config`` or ``checkpoint`` is used for every spec; otherwise the
    paper's model trained with as many particles as the spec codes with (num=1 for
    BB-ELBO, num=50 for BB-IS(50)), as the paper pairs them.
    """
    values: dict[str, Any] = {"coder": spec.coder, "num_particles": spec.num_particles}
    if not (config.train_config or config.checkpoint):
        folder = paper_checkpoint_dir() if checkpoint_dir is None else checkpoint_dir
        values["train_config"] = str(paper_train_config(folder, config.split, spec.num_particles))
    return attrs.evolve(config, **values)


#: A coder with its model loaded, built once and measured many times: a coding session
#: (config, device, components, coder, warnings). The old name stays for callers.
LoadedCoder = CodingSession


def load_coder(config: Config, registry: Registry) -> CodingSession:
    """Resolve the device, load the model and build the configured coder: the session's setup."""
    return CodingSession.from_config(config, registry)


def encode_images(
    loaded: CodingSession,
    x: np.ndarray,
    layout: ChainLayout,
    progress: ProgressFactory = no_progress,
) -> Message:
    """Encode ``x`` onto a fresh message in ``layout`` and return the message."""
    message = loaded.message(layout)
    groups = loaded.chain_groups(layout)
    return encode_dataset(loaded.coder, x, layout, message, progress("encode", x.shape[0]), groups)


# --------------------------------------------------------------------------- memory


def _reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS counter for this process (Linux); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # macOS: bytes; Linux: KiB


@attrs.define
class MemoryPeak:
    """Filled in by :func:`measure_memory` when its block ends."""

    numpy_bytes: int | None = None
    rss_bytes: int = 0
    rss_scope: str = "process"
    gpu_bytes: int | None = None


@contextmanager
def measure_memory(trace: bool = True, device: str = "cpu") -> Iterator[MemoryPeak]:
    """Peak memory of the block: tracemalloc (if ``trace``), RSS, and CUDA (on a GPU).

    ``rss_scope`` is ``"block"`` when the kernel's peak could be reset at the start, else
    ``"process"`` (the peak since the process began). Tracing slows the block down (every
    allocation is recorded) and its tables add to the RSS, so a timed block passes
    ``trace=False``.
    """
    peak = MemoryPeak()
    peak.rss_scope = "block" if _reset_rss_peak() else "process"
    tracing = trace and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    cuda = device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield peak
    finally:
        if tracing:
            peak.numpy_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        peak.rss_bytes = _max_rss_bytes()
        if cuda:
            import torch

            peak.gpu_bytes = int(torch.cuda.max_memory_allocated(device))


# --------------------------------------------------------------------------- results


@attrs.frozen
class LayoutComparison:
    """Net bits/dim of the same images in the chosen layout and in one chain, one lane."""

    num_images: int
    chains: int
    lanes: int
    net_bpd: float
    seed_layout_net_bpd: float
    tolerance: float = SEED_LAYOUT_TOLERANCE

    @property
    def difference(self) -> float:
        """Chosen minus seed layout, bits/dim."""
        return self.net_bpd - self.seed_layout_net_bpd

    @property
    def within_tolerance(self) -> bool:
        return abs(self.difference) <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["difference"] = self.difference
        out["within_tolerance"] = self.within_tolerance
        return out


@attrs.frozen
class CoderBenchResult:
    """One coder on one set of images in one layout; ``as_dict`` is the ``--json`` object."""

    coder: str
    num_particles: int
    checkpoint: str
    split: str
    num_images: int
    obs_dim: int
    chains: int
    lanes: int
    #: Groups of chains coded on threads side by side (1: all together; same bytes).
    chain_groups: int
    device: str
    #: "portable" or "float"; and the portable model's format (None in float arithmetic).
    arithmetic: str
    portable_format: int | None
    encode_s: float
    decode_s: float
    decode_ok: bool
    net_bpd: float
    total_bpd: float
    ideal_bpd: float | None
    initial_bits: float
    compressed_bytes: int
    numpy_peak_bytes: int | None
    rss_peak_bytes: int
    rss_scope: str
    gpu_peak_bytes: int | None = None
    layout_comparison: LayoutComparison | None = None
    warnings: tuple[str, ...] = ()

    @property
    def encode_images_per_s(self) -> float:
        return self.num_images / self.encode_s if self.encode_s > 0 else float("inf")

    @property
    def decode_images_per_s(self) -> float:
        return self.num_images / self.decode_s if self.decode_s > 0 else float("inf")

    @property
    def message_bpd(self) -> float:
        """Bits/dim of the serialized message: ``total`` plus the per-lane table of the format."""
        return 8 * self.compressed_bytes / (self.num_images * self.obs_dim)

    @property
    def encode_ms_per_image(self) -> float:
        return 1000.0 * self.encode_s / self.num_images

    @property
    def decode_ms_per_image(self) -> float:
        return 1000.0 * self.decode_s / self.num_images

    def as_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=False)
        out["layout_comparison"] = (
            None if self.layout_comparison is None else self.layout_comparison.as_dict()
        )
        out["warnings"] = list(self.warnings)
        for name in (
            "encode_images_per_s",
            "decode_images_per_s",
            "encode_ms_per_image",
            "decode_ms_per_image",
            "message_bpd",
        ):
            out[name] = getattr(self, name)
        return out


# --------------------------------------------------------------------------- measuring


def compare_layouts(
    loaded: CodingSession, x: np.ndarray, layout: ChainLayout, num_images: int
) -> LayoutComparison:
    """Net bits/dim of the first ``num_images`` of ``x`` in ``layout`` and in C=1, K=1.

    The chosen layout keeps its lanes and at most one chain per image, so the two runs
    differ only in how the same images are spread over streams.
    """
    if num_images < 1:
        raise ValueError(f"the layout comparison needs at least one image, got {num_images}")
    sub = x[: min(num_images, x.shape[0])]
    num, dims = sub.shape
    chosen = ChainLayout(num, min(layout.chains, num), layout.lanes)
    seed = ChainLayout(num, 1, 1)
    net = encode_images(loaded, sub, chosen).net_bits / (num * dims)
    seed_net = encode_images(loaded, sub, seed).net_bits / (num * dims)
    return LayoutComparison(num, chosen.chains, chosen.lanes, net, seed_net)


def _round_trip(
    loaded: CodingSession, x: np.ndarray, layout: ChainLayout, progress: ProgressFactory
) -> tuple[Message, bytes, np.ndarray, float, float]:
    """Encode, serialize, decode from the bytes: ``(message, bytes, decoded, encode_s, decode_s)``."""
    started = time.perf_counter()
    message = encode_images(loaded, x, layout, progress)
    encode_s = time.perf_counter() - started
    data = message.to_frame_bytes()
    received = message.reread()
    started = time.perf_counter()
    decoded = decode_dataset(
        loaded.coder, received, layout, x.shape[1], progress("decode", x.shape[0]),
        loaded.chain_groups(layout),
    )  # fmt: skip
    decode_s = time.perf_counter() - started
    return message, data, decoded, encode_s, decode_s


def bench_coder(
    loaded: CodingSession,
    x: np.ndarray,
    layout: ChainLayout | None = None,
    *,
    ideal: bool = True,
    trace_memory: bool = True,
    compare_seed_layout: int = 0,
    warmup: bool = True,
    progress: ProgressFactory = no_progress,
) -> CoderBenchResult:
    """Encode, serialize, decode and check ``x`` with ``loaded``; see the module docstring.

    ``layout`` defaults to ``bitsback run``'s (the config's chains and lanes, else
    automatic). ``compare_seed_layout`` > 0 adds a :class:`LayoutComparison` on that many
    images. ``ideal`` adds the negative bound (one extra pass of the model, not timed).
    ``warmup`` first encodes and decodes one untimed step, so one-time costs (torch's lazy
    initialisation, allocator growth, compiling numba kernels not yet in the on-disk
    cache) do not count as coding time.
    ``trace_memory`` adds the untimed, traced round trip for the numpy peak.
    """
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"expected images of shape (num_images, obs_dim), got shape {x.shape}")
    config = loaded.config
    num, obs_dim = x.shape
    layout = loaded.layout(num) if layout is None else layout
    if layout.num_items != num:
        raise ValueError(f"layout is for {layout.num_items} images, got {num}")
    if warmup:
        first = x[: layout.chains]
        _round_trip(
            loaded, first, ChainLayout(first.shape[0], first.shape[0], layout.lanes), no_progress
        )

    with measure_memory(False, loaded.device) as peak:
        message, data, decoded, encode_s, decode_s = _round_trip(loaded, x, layout, progress)
    numpy_peak: int | None = None
    if trace_memory:
        with measure_memory(True, loaded.device) as traced:
            _round_trip(loaded, x, layout, no_progress)
        numpy_peak = traced.numpy_bytes

    dims = num * obs_dim
    bound = loaded.ideal_bpd(x) if ideal else None
    comparison = (
        compare_layouts(loaded, x, layout, compare_seed_layout) if compare_seed_layout > 0 else None
    )
    return CoderBenchResult(
        coder=loaded.coder.PLUGIN_NAME,
        num_particles=config.num_particles,
        checkpoint=str(loaded.components.source.checkpoint),
        split=config.split,
        num_images=num,
        obs_dim=obs_dim,
        chains=layout.chains,
        lanes=layout.lanes,
        chain_groups=loaded.chain_groups(layout),
        device=loaded.device,
        arithmetic=loaded.components.model.arithmetic,
        portable_format=portable_format_of(loaded.components.model),
        encode_s=encode_s,
        decode_s=decode_s,
        decode_ok=bool(np.array_equal(decoded, x)),
        net_bpd=message.net_bits / dims,
        total_bpd=message.total_bits / dims,
        ideal_bpd=bound,
        initial_bits=message.initial_bits,
        compressed_bytes=len(data),
        numpy_peak_bytes=numpy_peak,
        rss_peak_bytes=peak.rss_bytes,
        rss_scope=peak.rss_scope,
        gpu_peak_bytes=peak.gpu_bytes,
        layout_comparison=comparison,
        warnings=loaded.warnings,
    )


def machine_info() -> dict[str, Any]:
    """What a benchmark figure depends on besides the code: CPUs, load, library versions.

    The load average is there because shared machines make throughput a noisy figure.
    """
    import torch

    try:
        load: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15_min": load,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
