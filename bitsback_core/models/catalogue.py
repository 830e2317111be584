"""The catalogue of installed models: short names for trained-model folders.

A *model folder* holds ``model.pt`` and the ``train_config.yml`` it was trained with
(``bitsback train`` writes both, plus ``log.csv`` and often a ``MODEL_CARD.md``). The
catalogue scans *model roots*, folders of model folders, in this order:

1. every folder in ``$BITSBACK_CHECKPOINTS`` (``os.pathsep``-separated);
2. the models shipped inside the installed package (the ``checkpoints`` package's data,
   found with ``importlib.resources``, so ``pip install .`` and ``pip install -e .`` both
   work and nothing is found by walking up from a source file);
3. the per-user folder ``$XDG_CACHE_HOME/bitsback/models`` (``~/.cache/bitsback/models``).

Naming rule: a folder's name after its last ``=``, lower-cased, with ``_`` written ``-``
(``bin_emnist_split=mnist_iwae50`` is ``mnist-iwae50``; ``my_model`` is ``my-model``).
When two folders get the same name the earlier root wins, so ``$BITSBACK_CHECKPOINTS``
can stand in for a shipped model. Everything else comes from the folder itself: split,
dataset, bound and particles from ``train_config.yml``, the test bits/dim from the best
(lowest) ``test_bpd`` in ``log.csv`` (the epoch whose weights ``model.pt`` keeps), or,
when the folder has an ``evaluation.json`` (``{"test_bpd": ..., "test_images": ...}``), from
that: a model selected on held-out *training* images (``bitsback train
--validation_images``) logs validation losses, and its test figure is measured once, after
training, by ``bitsback evaluate``. The sha256 comes from ``model.pt``. Nothing here knows a dataset or model by name.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import attrs

from bitsback_core.config import Config

__all__ = [
    "MODELS_ENV",
    "MODELS_PACKAGE",
    "Catalogue",
    "CatalogueEntry",
    "looks_like_name",
    "model_name",
    "model_roots",
    "package_models_dir",
    "scan",
    "user_models_dir",
]

#: Environment variable: extra model roots, searched before the shipped models.
MODELS_ENV = "BITSBACK_CHECKPOINTS"
#: The package whose data folders are the shipped models (``checkpoints/`` in the repository).
MODELS_PACKAGE = "checkpoints"
_MARKER = "BITSBACK_MODELS"


def package_models_dir() -> Path | None:
    """The shipped models' folder, or None when the package is not installed.

    The package must carry the ``BITSBACK_MODELS`` marker: an unrelated importable
    ``checkpoints`` is never taken for ours.
    """
    try:
        package = importlib.import_module(MODELS_PACKAGE)
    except ImportError:
        return None
    if not getattr(package, _MARKER, False):
        return None
    return Path(str(resources.files(MODELS_PACKAGE)))


def user_models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/bitsback/models`` (a relative XDG value is ignored, per the spec)."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "bitsback" / "models"


def model_roots(
    package_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """The roots to scan, in priority order: ``$BITSBACK_CHECKPOINTS``, the package, the user's."""
    env = os.environ if environ is None else environ
    roots = [Path(part).expanduser() for part in env.get(MODELS_ENV, "").split(os.pathsep) if part]
    if package_dir is not None:
        roots.append(package_dir)
    roots.append(user_models_dir(env))
    return tuple(roots)


def model_name(folder_name: str) -> str:
    """The catalogue name of a model folder (see the module docstring for the rule)."""
    return folder_name.rsplit("=", 1)[-1].strip().lower().replace("_", "-")


def looks_like_name(value: str) -> bool:
    """Whether ``value`` could be a catalogue name rather than a path.

    A value with a path separator or a file suffix (``./mnist-elbo``, ``model.pt``) is
    always a path, so a file that happens to share a model's name stays reachable.
    """
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return bool(value) and not any(s in value for s in seps) and "." not in value


_SHA256: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """The file's sha256, cached while its size and modification time are unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def _evaluated_test_bpd(path: Path) -> tuple[float | None, int | None] | None:
    """``evaluation.json``'s test figure, or None when the folder has none (or a broken one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value, images = float(data["test_bpd"]), int(data["test_images"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (value, images) if math.isfinite(value) and images > 0 else None


def _best_test_bpd(log_csv: Path) -> tuple[float | None, int | None]:
    """Lowest ``test_bpd`` in a training log and the ``test_images`` it was measured on."""
    best: tuple[float | None, int | None] = (None, None)
    try:
        with open(log_csv, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    value = float(row["test_bpd"])
                except (KeyError, TypeError, ValueError):
                    continue
                if math.isfinite(value) and (best[0] is None or value < best[0]):
                    images = row.get("test_images") or ""
                    best = (value, int(images) if images.isdigit() else None)
    except OSError:
        return None, None
    return best


@attrs.frozen
class CatalogueEntry:
    """One installed model: where it is and what it was trained for."""

    name: str
    folder: Path
    train_config: Config
    #: The best test loss in ``log.csv`` (bits/dim of the training bound), None without a log.
    test_bpd: float | None
    test_images: int | None

    @property
    def checkpoint(self) -> Path:
        return self.folder / "model.pt"

    @property
    def train_config_path(self) -> Path:
        return self.folder / "train_config.yml"

    @property
    def split(self) -> str:
        return self.train_config.split

    @property
    def dataset(self) -> str:
        return self.train_config.dataset

    @property
    def binarization(self) -> str:
        """How its training images were made binary: ``dynamic`` (sampled) or ``threshold``."""
        return "dynamic" if self.train_config.binarize else "threshold"

    @property
    def particles(self) -> int:
        """Particles of the training bound: 1 for the ELBO."""
        if self.train_config.bound.upper() == "ELBO":
            return 1
        return self.train_config.num_particles

    @property
    def bound(self) -> str:
        """``ELBO`` or ``IWAE`` (an IWAE bound with one particle is the ELBO)."""
        return "ELBO" if self.particles == 1 else self.train_config.bound.upper()

    def sha256(self) -> str:
        """sha256 of ``model.pt`` (computed on first use, then cached)."""
        return _sha256(self.checkpoint)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "split": self.split,
            "dataset": self.dataset,
            "model": self.train_config.model,
            "binarization": self.binarization,
            "bound": self.bound,
            "particles": self.particles,
            "test_bpd": self.test_bpd,
            "test_images": self.test_images,
            "sha256": self.sha256(),
            "path": str(self.folder),
        }

    @classmethod
    def from_folder(cls, folder: Path) -> CatalogueEntry | None:
        """The entry for ``folder``, or None if it is not a readable model folder."""
        if not ((folder / "model.pt").is_file() and (folder / "train_config.yml").is_file()):
            return None
        try:
            train_config = Config.from_yaml_file(folder / "train_config.yml")
        except (ValueError, OSError):  # a broken folder is not a model, not a failure
            return None
        evaluated = _evaluated_test_bpd(folder / "evaluation.json")
        test_bpd, test_images = evaluated or _best_test_bpd(folder / "log.csv")
        return cls(model_name(folder.name), folder, train_config, test_bpd, test_images)


@attrs.frozen
class Catalogue:
    """The installed models, unique by name, sorted by name."""

    entries: tuple[CatalogueEntry, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    def get(self, name: str) -> CatalogueEntry | None:
        """The model called ``name`` (case-insensitive), or None."""
        wanted = name.strip().lower()
        return next((entry for entry in self.entries if entry.name == wanted), None)

    def for_particles(
        self, dataset: str, split: str, particles: int, binarize: bool = True
    ) -> CatalogueEntry | None:
        """The model of ``split`` trained for coding with ``particles``, or the closest one.

        Models trained on images binarized the same way (``binarize``: dynamically, else
        thresholded) come first, the others only when there is none: test bits/dim of the
        two kinds are not comparable (thresholded images are far more predictable). Then
        the training particle count nearest to ``particles`` on a log scale (an IWAE-5
        model before an ELBO one for 50 particles), the lowest test bits/dim, the name.
        None if no model of that dataset and split is installed.
        """
        same_data = [
            entry
            for entry in self.entries
            if entry.split == split and entry.dataset.lower() == dataset.lower()
        ]
        alike = [e for e in same_data if bool(e.train_config.binarize) == bool(binarize)]
        candidates = alike or same_data
        if not candidates:
            return None

        def rank(entry: CatalogueEntry) -> tuple[float, float, str]:
            distance = abs(math.log(entry.particles) - math.log(particles))
            bpd = math.inf if entry.test_bpd is None else entry.test_bpd
            return (distance, bpd, entry.name)

        return min(candidates, key=rank)


def scan(roots: Iterable[Path]) -> Catalogue:
    """Every model folder directly under ``roots``; on a name clash the earlier root wins."""
    found: dict[str, CatalogueEntry] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            entry = CatalogueEntry.from_folder(folder)
            if entry is not None and entry.name and entry.name not in found:
                found[entry.name] = entry
    return Catalogue(tuple(sorted(found.values(), key=lambda entry: entry.name)))
