"""``bitsback run``'s library half: ideal bitrate, compress, decompress, check.

It reproduces the seed's ``compress.py`` experiment: the ideal bitrate (the negative
ELBO for one particle, the negative IWAE-N bound for N) on the chosen test images, then
the real net and total bitrates of the coder, then a decode (from the serialized bytes,
with a strict message that refuses to read past its end) compared with the input.

A bare ``bitsback run --coder CISBitsBackCoder`` needs nothing but the installed package:
:func:`run_defaults` fills in the particle count and the model a user left unset, and the
dataset plugin falls back to its packaged sample when no data directory is set up; both
are reported as ``notes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

import attrs
import numpy as np

from bitsback_core.compression import decode_dataset, encode_dataset
from bitsback_core.config import Config
from bitsback_core.models.bounds import ideal_bpd
from bitsback_core.pipeline.components import default_model, portable_format_of
from bitsback_core.pipeline.data import load_images, open_dataset
from bitsback_core.pipeline.layout import AUTO_LANES, choose_layout
from bitsback_core.pipeline.progress import ProgressFactory, no_progress
from bitsback_core.registry import Registry

# ``choose_layout``, ``ideal_bpd`` and ``AUTO_LANES`` live below the session now
# (pipeline/layout.py, models/bounds.py); they stay importable from here for older callers.
__all__ = [
    "AUTO_LANES",
    "MODEL_KEYS",
    "RunResult",
    "choose_layout",
    "ideal_bpd",
    "run_compression",
    "run_defaults",
]

#: Config keys that name the model; when the user sets none, :func:`run_defaults` may pick one.
MODEL_KEYS = ("checkpoint", "train_config")


@attrs.frozen
class RunResult:
    """Everything ``bitsback run`` reports; ``as_dict`` is the ``--json`` object."""

    coder: str
    num_particles: int
    split: str
    dataset: str
    num_compress: int
    chains: int
    lanes: int
    #: Groups of chains coded on threads side by side (1: all together; same bytes).
    chain_groups: int
    device: str
    checkpoint: str
    #: The model as a user names it: its catalogue name (``mnist-iwae5``), else its path.
    model: str
    #: "portable" or "float" (docs/design.md, "Portability").
    arithmetic: str
    #: The portable model's format (docs/design.md, "Portable model formats"), None in float.
    portable_format: int | None
    #: The portable model's identity (sha256 of its integers), None in float arithmetic.
    model_identity: str | None
    iterative_inference: bool
    obs_dim: int
    ideal_bpd: float
    net_bpd: float
    total_bpd: float
    initial_bits: float
    net_bits: float
    total_bits: int
    compressed_bytes: int
    encode_s: float
    decode_s: float | None
    decode_ok: bool | None
    warnings: tuple[str, ...] = ()
    #: What was chosen for the user (defaults, the data source), one line each.
    notes: tuple[str, ...] = ()

    @property
    def net_bits_per_image(self) -> float:
        return self.net_bits / self.num_compress

    @property
    def total_bits_per_image(self) -> float:
        return self.total_bits / self.num_compress

    def as_dict(self) -> dict[str, object]:
        out = attrs.asdict(self)
        out["warnings"] = list(self.warnings)
        out["notes"] = list(self.notes)
        out["net_bits_per_image"] = self.net_bits_per_image
        out["total_bits_per_image"] = self.total_bits_per_image
        return out


def run_defaults(
    config: Config, registry: Registry, given: Collection[str]
) -> tuple[Config, tuple[str, ...]]:
    """``config`` with the particle count and model a user left unset, and a note per choice.

    ``given`` holds the keys the user set (command line or config file); only keys outside
    it are filled in. A coder that declares ``DEFAULT_PARTICLES`` (IS and CIS: 50, as in
    the paper's tables) codes with that many particles when ``num_particles`` is not
    given, and then, when no model is named either, with the installed model trained for
    that many particles for the split, or the closest one installed (a note says which).
    Configs that set ``num_particles``, such as the seed's, are returned unchanged.
    """
    particles = getattr(registry.get("coder", config.coder), "DEFAULT_PARTICLES", None)
    if (
        "num_particles" in given
        or not isinstance(particles, int)
        or particles == config.num_particles
    ):
        return config, ()
    config = attrs.evolve(config, num_particles=particles)
    notes = [f"num_particles not set: coding with {particles} particles, as in the paper's tables"]
    if not any(key in given or getattr(config, key) for key in MODEL_KEYS):
        entry = default_model(config.dataset, config.split, particles, config.binarize)
        if entry is not None:
            config = attrs.evolve(config, checkpoint=entry.name)
            trained = (
                "the ELBO" if entry.particles == 1 else f"IWAE with {entry.particles} particles"
            )
            fit = (
                "trained for it"
                if entry.particles == particles
                else f"the closest installed ({trained})"
            )
            notes.append(f"model not set: {entry.name}, {fit}")
    return config, tuple(notes)


def run_compression(
    config: Config,
    registry: Registry,
    progress: ProgressFactory = no_progress,
    notes: tuple[str, ...] = (),
    report: Callable[[str], None] | None = None,
) -> RunResult:
    """Run the seed's compression experiment for ``config``; see the module docstring.

    ``notes`` (e.g. from :func:`run_defaults`) are passed through to the result, with the
    dataset's notice added; ``report`` receives each of them once the model and the data
    are loaded, before coding starts (so a run that fails to start reports only its error).
    """
    # Imported here, not at the top: ``bitsback_core.pipeline`` imports this module when it
    # loads, and the session imports the pipeline's modules (a cycle at import time only).
    from bitsback_core.session import CodingSession

    session = CodingSession.from_config(config, registry)
    coder, parts = session.coder, session.components
    dataset = open_dataset(config, registry)
    if dataset.notice:
        notes = (*notes, dataset.notice)
    x = load_images(config, registry, dataset=dataset)
    if report is not None:
        for note in notes:
            report(note)
    num, obs_dim = x.shape

    ideal = session.ideal_bpd(x)
    layout = session.layout(num)
    message = session.message(layout)

    started = time.perf_counter()
    groups = session.chain_groups(layout)
    encode_dataset(coder, x, layout, message, progress("encode", num), groups)
    encode_s = time.perf_counter() - started
    data = message.to_frame_bytes()

    decode_s: float | None = None
    decode_ok: bool | None = None
    if config.decode_check:
        received = message.reread()
        started = time.perf_counter()
        decoded = decode_dataset(coder, received, layout, obs_dim, progress("decode", num), groups)
        decode_s = time.perf_counter() - started
        decode_ok = bool(np.array_equal(decoded, x))

    dims = num * obs_dim
    return RunResult(
        coder=coder.PLUGIN_NAME,
        num_particles=config.num_particles,
        split=config.split,
        dataset=config.dataset,
        num_compress=num,
        chains=layout.chains,
        lanes=layout.lanes,
        chain_groups=groups,
        device=session.device,
        checkpoint=str(parts.source.checkpoint),
        model=parts.source.label,
        arithmetic=parts.model.arithmetic,
        portable_format=portable_format_of(parts.model),
        model_identity=parts.model.identity(),
        iterative_inference=config.iterative_post_improvement,
        obs_dim=obs_dim,
        ideal_bpd=ideal,
        net_bpd=message.net_bits / dims,
        total_bpd=message.total_bits / dims,
        initial_bits=message.initial_bits,
        net_bits=message.net_bits,
        total_bits=message.total_bits,
        compressed_bytes=len(data),
        encode_s=encode_s,
        decode_s=decode_s,
        decode_ok=decode_ok,
        warnings=session.warnings,
        notes=notes,
    )
