"""Run configuration: one frozen value object with every key of the paper's configs.

The keys and their defaults follow the paper code's ``configs/train_bin_emnist.yml`` and
``configs/compress_bin_emnist.yml`` (and the ``train_config.yml`` saved next to each
trained model), so those files load unchanged. Differences from the seed values, and why:

* ``gpu: -1`` (CPU) because a GPU is optional here;
* ``logdir: ./runs`` so outputs do not mix with the paper checkpoints;
* ``datadir: null``: the dataset plugin resolves its own default location;
* ``batch_size: 20`` (training's value; commands may pass their own ``defaults``);
* ``exp_name`` and ``train_config`` default to ``null`` because the two seed files disagree
  (exp_name) or point into the paper's repository (train_config); commands derive them.

Each key belongs to one group, recorded in its metadata (:data:`GROUPS`: data, model,
coding, training, output; and ``record`` and ``unused``, which are no command's options).
The library keeps the one flat object, so YAML files and library users see every key; the
groups let each command offer only the keys that change what it does
(``bitsback_core.cli.options``). Keys read by nothing (``workers``, ``batch_compute``,
``output``) stay in the object so that the paper's files load.

Values come from three layers, highest first: command line (strings, parsed with YAML
rules into the key's type), config file, defaults (see :meth:`Config.from_sources`).
Paths stay strings exactly as written; resolving them is the commands' business.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from bitsback_core.errors import ConfigError

__all__ = [
    "GROUPS",
    "OPTION_GROUPS",
    "Config",
    "config_keys",
    "describe_key",
    "file_keys",
    "group_keys",
    "key_group",
]

#: What each group of keys configures, in the order ``--help`` shows them. A command
#: takes the keys of the groups it uses (:func:`group_keys`); the last two groups are never
#: command-line options.
GROUPS: dict[str, str] = {
    "data": "which images: dataset, split, location, binarization, how many, seed",
    "model": "which trained model to load, or which architecture",
    "coding": "the coder, its proposal and discretizer, rANS precisions, chain layout, device",
    "training": "the optimization, and where a training run is written",
    "output": "how results are printed",
    "record": "written by training (or by --config) to say where a run came from",
    "unused": "read by nothing: kept so that the paper's config files load",
}
#: The groups whose keys can be command-line options.
OPTION_GROUPS = ("data", "model", "coding", "training", "output")

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a float", bool: "true or false"}
_NULL_WORDS = frozenset({"null", "none", "~"})


def _spec(attribute: attrs.Attribute[Any]) -> tuple[type, bool, int | float | None]:
    meta = attribute.metadata
    return meta["type"], meta["optional"], meta["minimum"]


def _check_value(field: attrs.Attribute[Any], value: Any, label: str = "") -> None:
    """Reject a value of the wrong type or below the key's minimum (used by ``__init__``)."""
    typ, optional, minimum = _spec(field)
    label = label or field.name
    if value is None and optional:
        return
    ok = isinstance(value, typ) and not (typ is not bool and isinstance(value, bool))
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(f"{label} expects {_expected(field)}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{label} must be >= {minimum}, got {value!r}")


def _validator(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _check_value(attribute, value)


def _key(
    typ: type,
    default: Any,
    help: str,
    *,
    group: str,
    optional: bool = False,
    minimum: int | float | None = None,
) -> Any:
    """Declare a config key: its type, default, one-line help, group and lower bound."""
    if group not in GROUPS:
        raise ValueError(f"unknown config group {group!r}")
    return attrs.field(
        default=default,
        validator=_validator,
        metadata={
            "type": typ,
            "optional": optional,
            "minimum": minimum,
            "help": help,
            "group": group,
        },
    )


def _expected(field: attrs.Attribute[Any]) -> str:
    typ, optional, _ = _spec(field)
    return _TYPE_WORDS[typ] + (" or null" if optional else "")


@attrs.frozen(kw_only=True)
class Config:
    """Every setting of a training, evaluation or compression run.

    Build one with :meth:`from_sources` (CLI), :meth:`from_yaml_file` or
    :meth:`from_mapping`; change one with ``attrs.evolve(config, key=value)`` (validated).
    """

    # ===== data: which images =====
    dataset: str = _key(str, "EMNIST", "dataset plugin name", group="data")
    split: str = _key(str, "mnist", "dataset split (EMNIST: mnist or letters)", group="data")
    datadir: str | None = _key(
        str, None, "dataset directory (null: the dataset's default)", optional=True, group="data"
    )
    binarize: bool = _key(bool, True, "dynamically binarize the images", group="data")
    num_compress: int = _key(
        int, 500, "maximum number of test images to use (a seeded subset)", minimum=1, group="data"
    )
    seed: int = _key(int, 42, "random seed", group="data")
    # ===== model: which trained model, or which architecture =====
    model: str = _key(str, "BinaryVAE", "model plugin name", group="model")
    latent_dim: int = _key(int, 50, "latent dimensions", minimum=1, group="model")
    train_config: str | None = _key(
        str,
        None,
        "train_config.yml (or model name) of the model to load",
        optional=True,
        group="model",
    )
    checkpoint: str | None = _key(
        str,
        None,
        "model checkpoint (or model name) to load; overrides ckpt_path",
        optional=True,
        group="model",
    )
    # ===== coding: coder, its parts, rANS precisions, chain layout, device =====
    coder: str = _key(str, "ISBitsBackCoder", "coder plugin name", group="coding")
    num_particles: int = _key(
        int,
        1,
        "particles for the IWAE bound (training, evaluation) and IS/CIS coding",
        minimum=1,
        group="coding",
    )
    proposal: str = _key(str, "amortized", "proposal plugin name", group="coding")
    discretizer: str = _key(str, "max_entropy", "discretizer plugin name", group="coding")
    arithmetic: str = _key(
        str,
        "portable",
        "portable (integer: decodes on every machine) or float (the paper's "
        "coder: decodes only where floats agree)",
        group="coding",
    )
    portable_format: int | None = _key(
        int,
        None,
        "portable model format (null: the model's newest; 1 re-creates files of releases "
        "before format 2); decompress takes the file's",
        optional=True,
        minimum=1,
        group="coding",
    )
    lprec: int = _key(int, 32, "rANS head precision in bits", minimum=1, group="coding")
    bprec: int = _key(int, 32, "rANS tail word size in bits", minimum=1, group="coding")
    log_num_bucket: int = _key(
        int, 8, "log2 of the latent buckets per dimension", minimum=1, group="coding"
    )
    prop_mprec: int = _key(
        int, 16, "precision of the proposal (posterior) distribution", minimum=1, group="coding"
    )
    cond_mprec: int = _key(int, 16, "precision of the likelihood p(x|z)", minimum=1, group="coding")
    prior_mprec: int = _key(int, 8, "precision of the prior p(z)", minimum=1, group="coding")
    chains: int | None = _key(
        int,
        None,
        "independent ANS chains (null: automatic)",
        optional=True,
        minimum=1,
        group="coding",
    )
    lanes: int | None = _key(
        int,
        None,
        "vectorized lanes per chain (null: automatic)",
        optional=True,
        minimum=1,
        group="coding",
    )
    chain_threads: int | None = _key(
        int,
        None,
        "threads coding groups of chains side by side; the bytes never depend on it "
        "(null: automatic, one per CPU up to 2 on the CPU; 1: none)",
        optional=True,
        minimum=1,
        group="coding",
    )
    iterative_post_improvement: bool = _key(
        bool, False, "refine q(z|x) per image by gradient", group="coding"
    )
    iterative_improvement_steps: int = _key(
        int, 50, "iterative-inference steps", minimum=0, group="coding"
    )
    iterative_improvement_lr: float = _key(
        float, 0.01, "iterative-inference learning rate", minimum=0, group="coding"
    )
    decode_check: bool = _key(bool, True, "decode and compare with the input", group="coding")
    gpu: int = _key(int, -1, "CUDA device index; -1 runs on the CPU", minimum=-1, group="coding")
    # ===== training: the optimization and where a run is written =====
    bound: str = _key(str, "IWAE", "training bound: ELBO or IWAE", group="training")
    optimizer: str = _key(str, "Adam", "optimizer name", group="training")
    lr: float = _key(float, 0.001, "learning rate", minimum=0, group="training")
    eps: float = _key(float, 0.0001, "optimizer epsilon", minimum=0, group="training")
    scheduler: str = _key(str, "multi_step", "learning-rate scheduler", group="training")
    epochs: int = _key(int, 3280, "training epochs", minimum=0, group="training")
    batch_size: int = _key(int, 20, "images per training batch", minimum=1, group="training")
    max_train_minutes: float | None = _key(
        float,
        None,
        "stop training after the epoch that crosses this many minutes (resumable)",
        optional=True,
        minimum=0,
        group="training",
    )
    logdir: str = _key(
        str, "./runs", "directory holding one folder per training run", group="training"
    )
    exp_name: str | None = _key(
        str,
        None,
        "training run's folder name (null: derived from the config)",
        optional=True,
        group="training",
    )
    # ===== output: how results are printed =====
    json: bool = _key(bool, False, "print results as JSON", group="output")
    # ===== record: written by training (or by --config), never read as a setting =====
    config: str | None = _key(
        str, None, "the config file these values were read from", optional=True, group="record"
    )
    ckpt_path: str | None = _key(
        str, None, "model checkpoint written by training", optional=True, group="record"
    )
    config_path: str | None = _key(
        str, None, "where this config was saved", optional=True, group="record"
    )
    expdir: str | None = _key(str, None, "experiment directory", optional=True, group="record")
    # ===== unused: read by nothing; kept so the paper's files load =====
    workers: int = _key(
        int,
        4,
        "data-loading worker processes (unused: images are read into memory)",
        minimum=0,
        group="unused",
    )
    batch_compute: bool = _key(
        bool,
        False,
        "batch the likelihood over particles (unused: coders always batch)",
        group="unused",
    )
    output: str | None = _key(
        str,
        None,
        "output file (unused: compress and quantize take -o)",
        optional=True,
        group="unused",
    )

    # ----- construction -----

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "") -> Config:
        """Build from typed values (as YAML or JSON load them) over the defaults.

        YAML artefacts are forgiven: ``1e-3`` (a string to PyYAML) is read as a float and a
        number given for a text key becomes its text. ``source`` names where the values came
        from in error messages.
        """
        return cls(**_coerce_all(values, source=source, from_text=False))

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> Config:
        """Load a YAML config file exactly as written (unknown keys are an error)."""
        return cls.from_mapping(_read_yaml(Path(path)), source=f"config file '{path}'")

    @classmethod
    def from_sources(
        cls,
        config_file: str | Path | None,
        overrides: Mapping[str, Any],
        defaults: Config | Mapping[str, Any] | None = None,
    ) -> Config:
        """Merge defaults < config file < command-line overrides into one config.

        ``overrides`` maps keys to command-line strings (``{"lr": "1e-3"}``), parsed into
        each key's type (``true``/``false`` for flags, ``null``/``none`` for "unset").
        ``defaults`` replaces some class defaults (a command's own defaults). The ``config``
        key records ``config_file``, as the paper's scripts did.
        """
        if isinstance(defaults, Config):
            merged = defaults.as_dict()
        else:
            merged = _coerce_all(defaults or {}, source="defaults", from_text=False)
        if config_file is not None:
            merged |= _coerce_all(
                _read_yaml(Path(config_file)),
                source=f"config file '{config_file}'",
                from_text=False,
            )
            merged["config"] = str(config_file)
        merged |= _coerce_all(overrides, source="command line", from_text=True)
        return cls(**merged)

    # ----- output -----

    def as_dict(self) -> dict[str, Any]:
        """All keys in declaration order."""
        return attrs.asdict(self, recurse=False)

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml_file` reads back to an equal config."""
        return yaml.safe_dump(self.as_dict(), sort_keys=False, default_flow_style=False)

    def to_yaml_file(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")


_FIELDS: dict[str, attrs.Attribute[Any]] = {f.name: f for f in attrs.fields(Config)}


def config_keys() -> tuple[str, ...]:
    """Every config key, in declaration order."""
    return tuple(_FIELDS)


def key_group(key: str) -> str:
    """The group ``key`` belongs to (a name in :data:`GROUPS`)."""
    group: str = _field(key, source="").metadata["group"]
    return group


def group_keys(*groups: str) -> tuple[str, ...]:
    """The keys of ``groups``, in declaration order (which follows :data:`GROUPS`)."""
    unknown = [group for group in groups if group not in GROUPS]
    if unknown:
        raise ValueError(f"unknown config group(s) {', '.join(unknown)}: known {', '.join(GROUPS)}")
    return tuple(key for key, field in _FIELDS.items() if field.metadata["group"] in groups)


def file_keys(path: str | Path) -> tuple[str, ...]:
    """The keys a YAML config file sets, in file order (read as `Config.from_sources` reads it)."""
    return tuple(str(key) for key in _read_yaml(Path(path)))


def describe_key(key: str) -> str:
    """One-line help for ``key`` (its meaning and expected type)."""
    field = _field(key, source="")
    return f"{field.metadata['help']} ({_expected(field)})"


def _field(key: str, *, source: str) -> attrs.Attribute[Any]:
    try:
        return _FIELDS[key]
    except KeyError:
        pass
    close = difflib.get_close_matches(key.replace("-", "_"), list(_FIELDS), n=1, cutoff=0.6)
    if source == "command line":
        hint = f"; did you mean --{close[0]}?" if close else ""
        raise ConfigError(f"unknown option --{key}{hint}")
    where = f" in {source}" if source else ""
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_FIELDS)}"
    raise ConfigError(f"unknown config key {key!r}{where}{hint}")


def _coerce_all(values: Mapping[str, Any], *, source: str, from_text: bool) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source} must be a mapping of keys to values, got {values!r}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings, got {key!r} in {source}")
        if from_text:
            key = key.replace("-", "_")
        field = _field(key, source=source)
        out[key] = _coerce(field, value, source=source, from_text=from_text)
    return out


def _coerce(field: attrs.Attribute[Any], value: Any, *, source: str, from_text: bool) -> Any:
    """Turn ``value`` into the key's type, or raise a ConfigError naming the key."""
    typ, optional, _ = _spec(field)
    if from_text and isinstance(value, str):
        converted = _from_text(typ, optional, value)
    else:
        converted = _from_loaded(typ, value)
    label = f"--{field.name}" if source == "command line" else field.name
    where = "" if source in ("command line", "") else f" ({source})"
    if converted is _BAD:
        raise ConfigError(f"{label} expects {_expected(field)}, got {value!r}{where}")
    try:
        _check_value(field, converted, label)
    except ConfigError as exc:
        raise ConfigError(f"{exc}{where}") from None
    return converted


_BAD = object()


def _from_text(typ: type, optional: bool, text: str) -> Any:
    """Parse one command-line string. Text keys take the string verbatim."""
    stripped = text.strip()
    if optional and (stripped.lower() in _NULL_WORDS or stripped == ""):
        return None
    if typ is str:
        return text
    if typ is bool:
        word = stripped.lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
        return _BAD
    try:
        loaded = yaml.safe_load(stripped)
    except yaml.YAMLError:
        return _BAD
    return _from_loaded(typ, loaded)


def _from_loaded(typ: type, value: Any) -> Any:
    """Accept a value as YAML/JSON delivered it, fixing PyYAML's number quirks."""
    if value is None or isinstance(value, bool):
        return value if typ is bool or value is None else _BAD
    if typ is float:
        if not isinstance(value, int | float | str):
            return _BAD
        try:
            number = float(value)  # PyYAML reads "1e-3" as a string
        except ValueError:
            return _BAD
        return number if math.isfinite(number) else _BAD
    if typ is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _BAD
    if typ is str:
        return str(value) if isinstance(value, str | int | float) else _BAD
    if typ is bool and isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), _BAD)
    return _BAD


def _read_yaml(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        if path.exists():
            raise ConfigError(f"config file '{path}' is not a file")
        raise FileNotFoundError(f"config file not found: '{path}'")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values")
    return data
