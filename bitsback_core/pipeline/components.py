"""Compose a model, proposal, discretizer and coder from a config and the registry.

This is the library's composition root: everything is looked up by name in the
:class:`~bitsback_core.registry.manager.Registry`, so a third-party coder or model
plugs in by name with no change here. Trained models are found through the model
catalogue (:mod:`bitsback_core.models.catalogue`): by short name (``mnist-elbo``), by
path, or as the default for a split; never by walking up from this file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs

from bitsback_core.coders.interface import Coder
from bitsback_core.config import Config
from bitsback_core.discretizers.interface import Discretizer
from bitsback_core.errors import ConfigError
from bitsback_core.models.catalogue import (
    Catalogue,
    CatalogueEntry,
    looks_like_name,
    package_models_dir,
    scan,
)
from bitsback_core.models.catalogue import model_roots as _catalogue_roots
from bitsback_core.models.interface import LatentVariableModel
from bitsback_core.proposals.interface import Proposal
from bitsback_core.registry import Registry

__all__ = [
    "ARITHMETIC_MODES",
    "Components",
    "check_arithmetic",
    "ModelSource",
    "build_coder",
    "build_components",
    "default_checkpoint_dir",
    "default_model",
    "model_catalogue",
    "model_roots",
    "file_sha256",
    "find_model_by_identity",
    "model_identity",
    "portable_format_of",
    "portable_model",
    "resolve_model_source",
]


def default_checkpoint_dir() -> Path:
    """The shipped models' folder: the installed ``checkpoints`` package's data.

    Found with ``importlib.resources``, so it is ``checkpoints/`` in an editable install and
    the copy inside ``site-packages`` after ``pip install .``.
    """
    found = package_models_dir()
    if found is None:
        raise ConfigError(
            "this bitsback installation lacks its models package (checkpoints): reinstall it"
        )
    return found


def model_roots() -> tuple[Path, ...]:
    """Where models are looked for: ``$BITSBACK_CHECKPOINTS``, the shipped models, the user's."""
    return _catalogue_roots(default_checkpoint_dir())


def model_catalogue() -> Catalogue:
    """Every installed model by short name (``bitsback models`` lists it)."""
    return scan(model_roots())


def default_model(
    dataset: str, split: str, particles: int = 1, binarize: bool = True
) -> CatalogueEntry | None:
    """The installed model for ``split`` and ``binarize`` trained for ``particles`` (or the closest)."""
    return model_catalogue().for_particles(dataset, split, particles, binarize)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@attrs.frozen
class ModelSource:
    """Where the model comes from: its training config and its weights."""

    train_config: Config
    checkpoint: Path
    train_config_path: Path | None
    #: The catalogue name when the model came from the catalogue, else None.
    name: str | None = None

    @classmethod
    def from_entry(cls, entry: CatalogueEntry) -> ModelSource:
        return cls(entry.train_config, entry.checkpoint, entry.train_config_path, entry.name)

    @property
    def label(self) -> str:
        """How to name the model to a user: its catalogue name, else its checkpoint path."""
        return self.name or str(self.checkpoint)


def _checkpoint_beside(train_config_path: Path, train_config: Config) -> Path:
    """``model.pt`` next to the train config, else the config's ``ckpt_path``.

    Saved configs record ``ckpt_path`` relative to wherever training ran; the file
    sitting next to the config is the robust choice when a run folder was moved.
    """
    beside = train_config_path.parent / "model.pt"
    if beside.is_file():
        return beside
    if train_config.ckpt_path:
        recorded = Path(train_config.ckpt_path)
        if recorded.is_file():
            return recorded
    raise ConfigError(
        f"no checkpoint for {train_config_path}: expected {beside}"
        + (f" or {train_config.ckpt_path}" if train_config.ckpt_path else "")
    )


def _named_model(value: str, key: str) -> CatalogueEntry | None:
    """The catalogue model ``value`` names, None if ``value`` is a path.

    A bare word (no separator, no suffix) that is neither a model name nor an existing
    file is an error listing the installed names.
    """
    if not looks_like_name(value):
        return None
    catalogue = model_catalogue()
    entry = catalogue.get(value)
    if entry is None and not Path(value).exists():
        names = ", ".join(catalogue.names()) or "none"
        raise ConfigError(
            f"--{key} {value!r} is neither a file nor an installed model (installed: {names}; "
            "`bitsback models` lists them)"
        )
    return entry


def resolve_model_source(config: Config) -> ModelSource:
    """Resolve ``--checkpoint`` / ``--train_config`` / the project's default model.

    Precedence: an explicit ``checkpoint`` (with ``train_config`` for the architecture if
    given, else this config's own ``model``/``latent_dim``), then ``train_config`` with the
    weights beside it, then the installed model for the split (:func:`default_model`).
    Either key takes a catalogue name (``mnist-elbo``) as well as a path.
    """
    named_config = (
        _named_model(config.train_config, "train_config") if config.train_config else None
    )
    named_ckpt = _named_model(config.checkpoint, "checkpoint") if config.checkpoint else None
    if named_config is not None:
        source = ModelSource.from_entry(named_config)
        if named_ckpt is not None:
            return attrs.evolve(source, checkpoint=named_ckpt.checkpoint, name=named_ckpt.name)
        if config.checkpoint:
            return attrs.evolve(source, checkpoint=Path(config.checkpoint), name=None)
        return source
    if named_ckpt is not None and not config.train_config:
        return ModelSource.from_entry(named_ckpt)
    if config.train_config:
        tc_path = Path(config.train_config)
        if not tc_path.is_file():
            raise ConfigError(f"train_config {tc_path} does not exist")
        train_config = Config.from_yaml_file(tc_path)
        if named_ckpt is not None:
            return ModelSource(train_config, named_ckpt.checkpoint, tc_path, named_ckpt.name)
        ckpt = (
            Path(config.checkpoint)
            if config.checkpoint
            else _checkpoint_beside(tc_path, train_config)
        )
        return ModelSource(train_config, ckpt, tc_path)
    if config.checkpoint:
        ckpt = Path(config.checkpoint)
        beside = ckpt.parent / "train_config.yml"
        if beside.is_file():
            return ModelSource(Config.from_yaml_file(beside), ckpt, beside)
        return ModelSource(config, ckpt, None)
    entry = default_model(config.dataset, config.split, binarize=config.binarize)
    if entry is None:
        raise ConfigError(
            f"no model given and no installed model for {config.dataset} split {config.split!r}: "
            "pass --checkpoint NAME|model.pt or --train_config train_config.yml (`bitsback models` lists names)"
        )
    return ModelSource.from_entry(entry)


#: The arithmetic modes a file can be coded with (``docs/design.md``, "Portability").
ARITHMETIC_MODES = ("portable", "float")


def check_arithmetic(name: str) -> str:
    """``name`` if it is a known arithmetic mode, else a ConfigError naming the modes."""
    if name not in ARITHMETIC_MODES:
        raise ConfigError(
            f"unknown arithmetic {name!r}: choose one of {', '.join(ARITHMETIC_MODES)}"
        )
    return name


def portable_model(model: LatentVariableModel, version: int | None) -> LatentVariableModel:
    """``model`` in portable arithmetic, format ``version`` (None: its newest); ConfigError
    for a model without portable arithmetic or without that format."""
    formats = type(model).PORTABLE_FORMATS
    if version is not None and version not in formats:
        known = ", ".join(map(str, formats))
        raise ConfigError(
            f"model {type(model).__name__} has no portable format {version} (it has {known})"
        )
    try:  # the newest without an argument: a plugin with one format may take none
        return model.portable() if version in (None, formats[-1]) else model.portable(version)
    except NotImplementedError as exc:
        raise ConfigError(str(exc)) from None


def portable_format_of(model: LatentVariableModel) -> int | None:
    """A portable model's format, None for a float model (results say which they measured)."""
    return int(model.portable_format) if model.arithmetic == "portable" else None


def model_identity(
    source: ModelSource,
    arithmetic: str,
    registry: Registry,
    device: str = "cpu",
    portable_format: int | None = None,
) -> str:
    """The identity a ``.bbz`` file records for this model (hex SHA-256).

    Portable arithmetic: the portable model's :meth:`~LatentVariableModel.identity`, a digest
    of exactly what its coding probabilities depend on (the integers and tables), so the
    same weights saved twice, or a copy anywhere, match. Float arithmetic: the checkpoint
    file's SHA-256, since float probabilities depend on every bit of the stored weights.
    ``portable_format``: the portable model's format (None: the model's newest).
    """
    if check_arithmetic(arithmetic) == "float":
        return file_sha256(source.checkpoint)
    model_cls = registry.get("model", source.train_config.model)
    model = model_cls.from_config(source.train_config.as_dict(), source.checkpoint, device)
    identity = portable_model(model, portable_format).identity()
    if not identity:
        raise ConfigError(f"model {type(model).__name__} in portable arithmetic has no identity()")
    return identity


#: Identities computed in this process, keyed by the files they depend on and the arithmetic.
_IDENTITIES: dict[tuple[str, int, int, int, str, int | None], str | None] = {}


def _cached_identity(
    ckpt: Path,
    tc_path: Path,
    arithmetic: str,
    registry: Registry,
    device: str,
    portable_format: int | None,
) -> str | None:
    """A candidate's identity, None if it cannot be built; cached while its files are unchanged."""
    try:
        stat, tc_stat = ckpt.stat(), tc_path.stat()
    except OSError:
        return None
    key = (
        str(ckpt.resolve()), stat.st_size, stat.st_mtime_ns, tc_stat.st_mtime_ns, arithmetic,
        portable_format,
    )  # fmt: skip
    if key not in _IDENTITIES:
        try:
            source = ModelSource(Config.from_yaml_file(tc_path), ckpt, tc_path)
            _IDENTITIES[key] = model_identity(source, arithmetic, registry, device, portable_format)
        except Exception:  # a candidate that cannot be built is simply not the model sought
            _IDENTITIES[key] = None
    return _IDENTITIES[key]


def find_model_by_identity(
    identity: str,
    arithmetic: str,
    registry: Registry,
    device: str = "cpu",
    prefer: str | None = None,
    root: Path | None = None,
    portable_format: int | None = None,
) -> ModelSource | None:
    """The project's own model whose :func:`model_identity` starts with ``identity``, or None.

    ``identity`` is hex: a full digest or the 128-bit prefix a ``.bbz`` file stores (at
    least 32 hex digits, so an empty or short prefix cannot match any model).
    Scans ``root`` (default: every :func:`model_roots` folder) for ``*/model.pt`` with a
    ``train_config.yml`` beside it. Files name models by identity, never by path, so a
    decoder never opens anything a file names; the folder called ``prefer`` (the model
    name a file records) is tried first, so the usual lookup builds one model.
    """
    identity = identity.lower()
    if len(identity) < 32:
        raise ValueError(f"a model identity has at least 32 hex digits, got {identity[:40]!r}")
    roots = model_roots() if root is None else (Path(root),)
    found_files = [
        (rank, ckpt) for rank, r in enumerate(roots) if r.is_dir() for ckpt in r.glob("*/model.pt")
    ]
    from bitsback_core.models.catalogue import model_name as catalogue_name

    def preferred(folder: str) -> bool:  # a file stores the catalogue name of the folder
        return prefer in (folder, catalogue_name(folder))

    found_files.sort(
        key=lambda item: (not preferred(item[1].parent.name), item[0], item[1].parent.name)
    )
    candidates = [ckpt for _, ckpt in found_files]
    for ckpt in candidates:
        tc_path = ckpt.parent / "train_config.yml"
        found = (
            _cached_identity(ckpt, tc_path, arithmetic, registry, device, portable_format)
            if tc_path.is_file()
            else None
        )
        if found is not None and found.startswith(identity):
            return ModelSource(Config.from_yaml_file(tc_path), ckpt, tc_path)
    return None


@attrs.frozen
class Components:
    """A loaded model with the proposal and discretizer a coder is built from."""

    model: LatentVariableModel
    proposal: Proposal
    discretizer: Discretizer
    source: ModelSource


def build_components(config: Config, registry: Registry, device: str = "cpu") -> Components:
    """Load the model named by the resolved training config and the configured parts."""
    source = resolve_model_source(config)
    if not source.checkpoint.is_file():
        raise ConfigError(f"checkpoint {source.checkpoint} does not exist")
    model_cls = registry.get("model", source.train_config.model)
    model = model_cls.from_config(source.train_config.as_dict(), source.checkpoint, device)
    arithmetic = check_arithmetic(config.arithmetic)
    if arithmetic == "portable":
        model = portable_model(model, config.portable_format)
    if config.iterative_post_improvement:
        proposal_cls = registry.get("proposal", "iterative")
        proposal = proposal_cls(
            model, steps=config.iterative_improvement_steps, lr=config.iterative_improvement_lr
        )
    else:
        proposal = registry.get("proposal", config.proposal)(model)
    discretizer = registry.get("discretizer", config.discretizer)(
        log_num_bucket=config.log_num_bucket,
        prior_mprec=config.prior_mprec,
        prop_mprec=config.prop_mprec,
        arithmetic=arithmetic,
    )
    return Components(model, proposal, discretizer, source)


def build_coder(config: Config, registry: Registry, parts: Components) -> Coder:
    """The configured coder over ``parts``."""
    coder_cls = registry.get("coder", config.coder)
    return coder_cls(
        parts.model,
        parts.proposal,
        parts.discretizer,
        num_particles=config.num_particles,
        prop_mprec=config.prop_mprec,
        cond_mprec=config.cond_mprec,
        seed=config.seed,
    )
