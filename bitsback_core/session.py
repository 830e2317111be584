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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from bitsback_core.coders.interface import Coder
from bitsback_core.compression import ChainLayout
from bitsback_core.compression.container import (
    DEFAULT_FRAME_IMAGES,
    CompressedFile,
)
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline.components import (
    Components,
    build_coder,
    build_components,
    default_checkpoint_dir,
    file_sha256,
)
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.files import (
    CompressResult,
    as_binary_images,
    compress_to_file,
    decode_container,
    decompress_file,
)
from bitsback_core.pipeline.run import choose_layout, ideal_bpd
from bitsback_core.proposals.interface import Proposal
from bitsback_core.registry import Registry, load_registry

__all__ = ["CodingSession", "Encoded", "find_named_model", "model_overrides"]

#: What ``model=`` may be: a registry-free reference to weights (path or catalogue name).
ModelRef = str | os.PathLike[str]
#: The plugin name classes handed to :meth:`CodingSession.open` are registered under.
_SESSION_PLUGIN = "session"


def find_named_model(name: str) -> Path | None:
    """The ``train_config.yml`` of the model called ``name``, or None.

    This is the hook the model catalogue replaces: today a name is a folder of the
    project's own ``checkpoints/`` (``bin_emnist_split=mnist_elbo``); the catalogue will
    add downloadable and installed models behind the same call.
    """
    if not name or "/" in name or os.sep in name or name in (".", ".."):
        return None
    candidate = default_checkpoint_dir() / name / "train_config.yml"
    return candidate if candidate.is_file() else None


def _known_model_names() -> list[str]:
    root = default_checkpoint_dir()
    return sorted(p.parent.name for p in root.glob("*/train_config.yml")) if root.is_dir() else []


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

    Build one with :meth:`open` (keywords) or :meth:`from_config`; the fields are the
    resolved pieces, for callers (and later the commands) that need them.
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
        """The session a command builds from its parsed config (the CLI's entry point)."""
        registry = load_registry() if registry is None else registry
        registry.entry("coder", config.coder)  # a bad name fails before the model loads
        device, warning = resolve_device(config.gpu)
        parts = build_components(config, registry, device)
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

    def images(self, images: np.ndarray) -> np.ndarray:
        """``images`` checked (binary, the model's pixel count) and flattened to ``(n, obs_dim)``."""
        return as_binary_images(images, self.components.model.obs_dim)[0]

    # ----- bits -----

    def ideal_bits(self, images: np.ndarray) -> float:
        """The model's bound on ``images`` in bits: negative ELBO (one particle) or IWAE-N.

        The same estimate ``bitsback run`` reports as ``ideal_bpd`` (same seed, particles).
        """
        x = self.images(images)
        return (
            ideal_bpd(self.components.model, x, self.config.num_particles, self.config.seed)
            * x.size
        )

    # ----- bytes -----

    def encode(
        self, images: np.ndarray, *, ideal: bool = False, frame_images: int = DEFAULT_FRAME_IMAGES
    ) -> Encoded:
        """Code ``images`` (0/1, ``(n, obs_dim)`` or ``(n, h, w)``) into ``.bbz`` bytes.

        The bytes are exactly those ``bitsback compress`` writes with these settings: they
        are written by the same function, into a private temporary folder, so the file
        format has one writer. With ``ideal`` the model's bound is computed too (one more
        pass of the network).
        """
        original = np.asarray(images)
        x = self.images(original)
        with tempfile.TemporaryDirectory(prefix="bitsback-session-") as folder:
            path = Path(folder) / "images.bbz"
            written = compress_to_file(
                self.config, self.registry, original, path,
                verify=False, frame_images=frame_images, jobs=self._jobs,
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
    ) -> CompressResult:
        """Write ``images`` to a ``.bbz`` file exactly as ``bitsback compress`` does.

        Atomic, never overwrites unless asked, and (``verify``) decoded and compared with
        the input before the file is moved into place.
        """
        return compress_to_file(
            self.config, self.registry, images, Path(path),
            overwrite=overwrite, verify=verify, frame_images=frame_images, jobs=self._jobs,
        )  # fmt: skip

    def decompress_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The images in a ``.bbz`` file, decoded with this session's model."""
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
