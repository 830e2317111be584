"""The library's public face: one :class:`CodingSession` that loads a model once and codes.

A session is the setup every command repeats (device, registry, model, proposal,
discretizer, coder, chain layout), done once from a :class:`~bitsback_core.config.Config`
plus keyword overrides, and then reused for any number of arrays::

    s = CodingSession.open(model="checkpoints/bin_emnist_split=mnist_iwae5",
                           coder="ISBitsBackCoder", num_particles=5)
    enc = s.encode(images)            # .bbz bytes in memory, with the bits it cost
    assert (s.decode(enc.data) == images).all()
    print(enc.net_bpd, enc.total_bpd, enc.file_bpd)

It composes the pipeline's public functions and adds no coding logic of its own:
``encode`` writes exactly the bytes ``bitsback compress`` writes for the same settings
(format 2, ``docs/format.md``), ``decode`` and ``decompress_file`` decode exactly as
``bitsback decompress`` does (the coder rebuilt from the header, the model checked by
identity), so anything a session encodes can be decoded by the CLI and the reverse.

Components are chosen *by name* so that a file can name them: a coder or proposal class
defined in a script is registered in the session's registry under its ``PLUGIN_NAME``,
and the session builds the instance over its own model. That is also why a ready-made
coder *instance* is refused: nothing a file records could rebuild it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.coders.interface import Coder
from bitsback_core.compression import ChainLayout
from bitsback_core.compression.container import (
    DEFAULT_FRAME_IMAGES,
    CompressedFile,
)
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.models.bounds import ideal_bpd
from bitsback_core.pipeline.components import (
    Components,
    build_coder,
    build_components,
    default_checkpoint_dir,
    file_sha256,
)
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.layout import choose_layout, new_message
from bitsback_core.proposals.interface import Proposal
from bitsback_core.registry import Registry, load_registry
from bitsback_core.threads import chain_groups

# The session sits below the commands: ``run``, ``bench`` and ``evaluate`` (and next the
# file functions) build their setup through it, so it imports no command's module when it
# loads. The file functions it wraps are imported where they are called.
if TYPE_CHECKING:
    from bitsback_core.pipeline.files import CompressResult

__all__ = ["CodingSession", "Encoded", "find_named_model", "model_overrides"]

#: What ``model=`` may be: a registry-free reference to weights (path or catalogue name).
ModelRef = str | os.PathLike[str]
#: The plugin name classes handed to :meth:`CodingSession.open` are registered under.
_SESSION_PLUGIN = "session"


def find_named_model(name: str) -> Path | None:
    """The ``train_config.yml`` of the model called ``name``, or None.

    A name is a short name of the model catalogue (``mnist-elbo``, as ``bitsback models``
    lists them), or the name of a folder of the project's own ``checkpoints/``
    (``bin_emnist_split=mnist_elbo``).
    """
    if not name or "/" in name or os.sep in name or name in (".", ".."):
        return None
    from bitsback_core.pipeline.components import model_catalogue

    entry = model_catalogue().get(name)
    if entry is not None:
        return entry.train_config_path
    candidate = default_checkpoint_dir() / name / "train_config.yml"
    return candidate if candidate.is_file() else None


def _known_model_names() -> list[str]:
    from bitsback_core.pipeline.components import model_catalogue

    return list(model_catalogue().names())


def model_overrides(model: ModelRef) -> dict[str, str | None]:
    """The config keys (``train_config``, ``checkpoint``) that load ``model``.

    A ``.yml``/``.yaml`` file is a training config (weights beside it); any other file
    is a checkpoint (its architecture from a ``train_config.yml`` beside it, else the
    config's ``model``/``latent_dim``); a folder is a run folder holding
    ``train_config.yml``; anything else is a name for :func:`find_named_model`.
    """
    path = Path(model)
    if path.is_file():
        if path.suffix in (".yml", ".yaml"):
            return {"train_config": str(path), "checkpoint": None}
        return {"train_config": None, "checkpoint": str(path)}
    if path.is_dir():
        inside = path / "train_config.yml"
        if not inside.is_file():
            raise ConfigError(f"model folder {path} holds no train_config.yml")
        return {"train_config": str(inside), "checkpoint": None}
    named = find_named_model(str(model))
    if named is None:
        known = ", ".join(_known_model_names()) or "none installed"
        raise ConfigError(
            f"unknown model {str(model)!r}: not a checkpoint, train_config or run folder, and not a "
            f"model name (known: {known})"
        )
    return {"train_config": str(named), "checkpoint": None}


def _component_name(registry: Registry, kind: str, part: str | type, base: type) -> str:
    """The registry name for ``part``: a name (checked now) or a class (registered if new).

    A class already registered under its ``PLUGIN_NAME`` is simply named; a new one is
    registered as coming from plugin ``"session"``, so a clash with an installed plugin
    is the registry's usual one-line error naming both.
    """
    if isinstance(part, str):
        return registry.entry(kind, part).name
    if not isinstance(part, type):
        raise ConfigError(
            f"{kind} must be a registry name or a {base.__name__} subclass, got a "
            f"{type(part).__name__} instance: the session builds the {kind} over its own model, "
            "so that a file can name it and a decoder rebuild it"
        )
    name = getattr(part, "PLUGIN_NAME", None)
    if isinstance(name, str) and name in registry.names(kind) and registry.get(kind, name) is part:
        return name
    return registry.register(kind, part, plugin=_SESSION_PLUGIN).name


@attrs.frozen
class Encoded:
    """Images coded into ``.bbz`` bytes, with what they cost.

    ``net_bits`` is the exact code length of the images (the sum of ``-log2 p`` of what
    was coded, bits-back credited); ``total_bits`` the messages' real size (heads and
    words, initial bits included); ``file_bits`` the whole blob with its header and frame
    records; ``ideal_bits`` the model's bound (negative ELBO / IWAE-N) when asked for.
    """

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    num_images: int
    obs_dim: int
    net_bits: float
    total_bits: int
    ideal_bits: float | None = None

    def __bytes__(self) -> bytes:
        return self.data

    @property
    def dims(self) -> int:
        return self.num_images * self.obs_dim

    @property
    def initial_bits(self) -> float:
        return self.total_bits - self.net_bits

    @property
    def file_bits(self) -> int:
        return 8 * len(self.data)

    @property
    def net_bpd(self) -> float:
        return self.net_bits / self.dims

    @property
    def total_bpd(self) -> float:
        return self.total_bits / self.dims

    @property
    def file_bpd(self) -> float:
        return self.file_bits / self.dims

    @property
    def ideal_bpd(self) -> float | None:
        return None if self.ideal_bits is None else self.ideal_bits / self.dims


@attrs.frozen
class CodingSession:
    """A loaded model with its proposal, discretizer and coder, ready to code arrays.

    Build one with :meth:`open` (keywords), :meth:`from_config` (what ``run``, ``bench``
    and ``evaluate`` do with their parsed config) or :meth:`for_decoding` (a file's
    header); the fields are the resolved pieces, for callers that drive the coder
    themselves (:meth:`layout` and :meth:`message` give the rest of that setup).
    """

    config: Config = attrs.field(repr=False)
    registry: Registry = attrs.field(repr=False)
    device: str
    components: Components = attrs.field(repr=False)
    coder: Coder = attrs.field(repr=False)
    warnings: tuple[str, ...] = ()

    @classmethod
    def open(
        cls,
        model: ModelRef | None = None,
        coder: str | type[Coder] | None = None,
        *,
        proposal: str | type[Proposal] | None = None,
        config: Config | None = None,
        registry: Registry | None = None,
        **overrides: Any,
    ) -> CodingSession:
        """Load ``model`` and build ``coder`` with options ``overrides`` (any config key).

        ``model``: a checkpoint, a ``train_config.yml``, a run folder or a model name
        (:func:`model_overrides`); None keeps ``config``'s (or the split's default).
        ``coder``/``proposal``: a registry name or alias, or a class (registered in
        ``registry`` under its ``PLUGIN_NAME``). ``overrides`` are config keys such as
        ``num_particles=5``, ``chains=2``, ``arithmetic="float"``; an unknown key or bad
        value is a :class:`~bitsback_core.errors.ConfigError`.
        """
        registry = load_registry() if registry is None else registry
        values: dict[str, Any] = dict(overrides)
        if model is not None:
            values.update(model_overrides(model))
        if coder is not None:
            values["coder"] = _component_name(registry, "coder", coder, Coder)
        if proposal is not None:
            name = _component_name(registry, "proposal", proposal, Proposal)
            # The iterative proposal is chosen by its flag (it takes steps and lr from the config).
            values["iterative_post_improvement"] = name == "iterative"
            if name != "iterative":
                values["proposal"] = name
        return cls.from_config(_merged(config or Config(), values), registry)

    @classmethod
    def from_config(cls, config: Config, registry: Registry | None = None) -> CodingSession:
        """The session a command builds from its parsed config (the CLI's entry point).

        Everything the commands used to set up each on its own: the device (``gpu``, with
        a warning in :attr:`warnings` when CUDA is missing), the model, proposal and
        discretizer, and the coder over them.
        """
        return cls._load(config, registry, None)

    @classmethod
    def for_decoding(
        cls,
        config: Config,
        registry: Registry | None = None,
        check: Callable[[Components], None] | None = None,
    ) -> CodingSession:
        """The session that decodes a file, from the config its header records.

        ``config`` is the decoder's: the coder, precisions, seed, arithmetic and model
        class a ``.bbz`` header names, with the model's location filled in (found by
        identity, or given). ``check`` sees the loaded model, proposal and discretizer
        *before* the coder is built and raises when they are not the file's (another
        model, another pixel count), so a wrong model is refused, never used to decode.
        """
        return cls._load(config, registry, check)

    @classmethod
    def _load(
        cls, config: Config, registry: Registry | None, check: Callable[[Components], None] | None
    ) -> CodingSession:
        registry = load_registry() if registry is None else registry
        registry.entry("coder", config.coder)  # a bad name fails before the model loads
        device, warning = resolve_device(config.gpu)
        parts = build_components(config, registry, device)
        if check is not None:
            check(parts)
        coder = build_coder(config, registry, parts)
        return cls(config, registry, device, parts, coder, (warning,) if warning else ())

    def __repr__(self) -> str:
        c = self.config
        return (
            f"CodingSession(model={str(self.components.source.checkpoint)!r}, coder={c.coder!r}, "
            f"num_particles={c.num_particles}, arithmetic={c.arithmetic!r}, device={self.device!r})"
        )

    # ----- what the session codes with -----

    @property
    def model_identity(self) -> str:
        """What a file records for this model: the portable identity or the checkpoint's SHA-256."""
        if self.config.arithmetic == "portable":
            identity = self.components.model.identity()
            if not identity:
                raise ConfigError(
                    f"model {type(self.components.model).__name__} has no portable identity()"
                )
            return identity
        return file_sha256(self.components.source.checkpoint)

    def layout(self, num_images: int) -> ChainLayout:
        """Chains and lanes for ``num_images`` images: the configured ones or automatic."""
        return choose_layout(self.config, num_images)

    def chain_groups(self, layout: ChainLayout) -> int:
        """Groups of chains to code on threads (same bytes; the ``chain_threads`` key, or
        automatic); one for a coder whose chains may interact (``Coder.chains_independent``)."""
        if not self.coder.chains_independent:
            return 1
        threads, particles = self.config.chain_threads, self.coder.num_particles
        return chain_groups(layout.chains, self.device, threads=threads, particles=particles)

    def message(self, layout: ChainLayout) -> Message:
        """An empty message for ``layout`` with the config's precisions and seed."""
        return new_message(self.config, layout)

    def images(self, images: np.ndarray) -> np.ndarray:
        """``images`` checked (binary, the model's pixel count) and flattened to ``(n, obs_dim)``."""
        from bitsback_core.pipeline.files import as_binary_images

        return as_binary_images(images, self.components.model.obs_dim)[0]

    # ----- bits -----

    def ideal_bits(self, images: np.ndarray) -> float:
        """The model's bound on ``images`` in bits: negative ELBO (one particle) or IWAE-N.

        The same estimate ``bitsback run`` reports as ``ideal_bpd`` (same seed, particles).
        """
        x = self.images(images)
        return self.ideal_bpd(x) * x.size

    def ideal_bpd(self, x: np.ndarray, num_particles: int | None = None) -> float:
        """The bound in bits/dim on rows ``x`` (``(n, obs_dim)``, already checked), seeded by the config.

        With the config's particle count (or ``num_particles``: ``evaluate`` asks for the
        ELBO with 1 and for IWAE-N): the figure ``run``, ``bench`` and ``evaluate`` report.
        """
        particles = self.config.num_particles if num_particles is None else num_particles
        return ideal_bpd(self.components.model, x, particles, self.config.seed)

    # ----- bytes -----

    def encode(
        self,
        images: np.ndarray,
        *,
        ideal: bool = False,
        frame_images: int = DEFAULT_FRAME_IMAGES,
        fallback: str = "auto",
    ) -> Encoded:
        """Code ``images`` (0/1, ``(n, obs_dim)`` or ``(n, h, w)``) into ``.bbz`` bytes.

        The bytes are exactly those ``bitsback compress`` writes with these settings: they
        are written by the same function, into a private temporary folder, so the file
        format has one writer. With ``ideal`` the model's bound is computed too (one more
        pass of the network). ``fallback="auto"`` (as ``compress``) stores a frame with a
        classical codec when that is shorter, and then counts its bytes as its net and total
        bits; ``"never"`` keeps every frame a bits-back message.
        """
        from bitsback_core.pipeline.files import compress_to_file

        original = np.asarray(images)
        x = self.images(original)
        with tempfile.TemporaryDirectory(prefix="bitsback-session-") as folder:
            path = Path(folder) / "images.bbz"
            written = compress_to_file(
                self.config, self.registry, original, path,
                verify=False, frame_images=frame_images, jobs=self._jobs, fallback=fallback,
                session=self,
            )  # fmt: skip
            data = path.read_bytes()
        ideal_bits = self.ideal_bits(x) if ideal else None
        return Encoded(
            data,
            written.num_images,
            written.obs_dim,
            written.net_bits,
            written.total_bits,
            ideal_bits,
        )

    def decode(self, blob: bytes | Encoded, name: str = "blob") -> np.ndarray:
        """The images in ``blob`` (their original shape and dtype), decoded as ``decompress`` does.

        The coder is rebuilt from the blob's header in this session's registry and the
        model must be this session's (checked by identity); a blob from other settings
        decodes, one from another model is refused.
        """
        from bitsback_core.pipeline.files import decode_container

        container = CompressedFile.from_bytes(bytes(blob), name=name)
        images, _ = decode_container(
            container, self.registry, self._checkpoint, self.config.gpu, name=name, jobs=self._jobs
        )
        return images

    # ----- files -----

    def compress_file(
        self,
        images: np.ndarray,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        verify: bool = True,
        frame_images: int = DEFAULT_FRAME_IMAGES,
        fallback: str = "auto",
    ) -> CompressResult:
        """Write ``images`` to a ``.bbz`` file exactly as ``bitsback compress`` does.

        Atomic, never overwrites unless asked, and (``verify``) decoded and compared with
        the input before the file is moved into place.
        """
        from bitsback_core.pipeline.files import compress_to_file

        return compress_to_file(
            self.config, self.registry, images, Path(path),
            overwrite=overwrite, verify=verify, frame_images=frame_images, jobs=self._jobs,
            fallback=fallback, session=self,
        )  # fmt: skip

    def decompress_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The images in a ``.bbz`` file, decoded with this session's model."""
        from bitsback_core.pipeline.files import decompress_file

        images, _ = decompress_file(
            Path(path), self.registry, self._checkpoint, self.config.gpu, jobs=self._jobs
        )
        return images

    # ----- internals -----

    @property
    def _checkpoint(self) -> str:
        return str(self.components.source.checkpoint)

    @property
    def _jobs(self) -> int | None:
        """Decoding processes: the pipeline's default, or this one alone for script classes.

        Worker processes load the installed plugins only, so a coder or proposal a script
        registered in this session's registry exists in this process and nowhere else.
        """
        config, registry = self.config, self.registry
        proposal = "iterative" if config.iterative_post_improvement else config.proposal
        chosen = (registry.entry("coder", config.coder), registry.entry("proposal", proposal))
        return 1 if any(entry.plugin == _SESSION_PLUGIN for entry in chosen) else None


def _merged(config: Config, values: Mapping[str, Any]) -> Config:
    """``config`` with ``values`` over it, each checked like a config file's keys."""
    return Config.from_mapping({**config.as_dict(), **values}, source="CodingSession.open")
