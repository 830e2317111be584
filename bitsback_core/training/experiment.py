"""The experiment directory: its files, its name, and refusing to clobber another run.

One directory per run (``<logdir>/<exp_name>``) holds

* ``train_config.yml``: the resolved :class:`~bitsback_core.config.Config` (with
  ``ckpt_path``, ``config_path`` and ``expdir`` filled in), what ``bitsback run`` reloads;
* ``model.pt``: the plain state dict of the epoch with the lowest test loss;
* ``state.pt``: the last epoch's model, optimizer and counters, for resuming;
* ``log.csv``: one row per epoch.

A directory that already holds a *different* experiment is never written to: the
trainer raises :class:`ExperimentClashError` instead. No torch here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError

__all__ = [
    "IDENTITY_KEYS",
    "LOG_COLUMNS",
    "EpochRecord",
    "ExperimentClashError",
    "ExperimentDir",
    "check_same_experiment",
    "default_exp_name",
]

#: Keys that define *which* model a directory holds; a resume must agree on all of them.
IDENTITY_KEYS = ("model", "latent_dim", "dataset", "split", "bound", "num_particles")
#: Columns of ``log.csv``.
LOG_COLUMNS = ("epoch", "lr", "train_bpd", "test_bpd", "test_images", "seconds")


class ExperimentClashError(BitsbackError, ValueError):
    """The experiment directory holds files of another (or an unknown) training run."""


def default_exp_name(config: Config) -> str:
    """The seed's naming: ``train_bin_emnist_split=mnist_num=5``."""
    kind = "bin_" if config.binarize else ""
    return f"train_{kind}{config.dataset.lower()}_split={config.split}_num={config.num_particles}"


def _check_exp_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"exp_name must be a single directory name (no '/' or '..'), got {name!r}")
    return name


@attrs.frozen
class EpochRecord:
    """One row of ``log.csv``; ``epoch`` counts completed epochs (1-based)."""

    epoch: int
    lr: float
    train_bpd: float
    test_bpd: float
    test_images: int
    seconds: float
    is_best: bool = False

    def row(self) -> list[str]:
        return [
            str(self.epoch),
            f"{self.lr:.8g}",
            f"{self.train_bpd:.6f}",
            f"{self.test_bpd:.6f}",
            str(self.test_images),
            f"{self.seconds:.3f}",
        ]


@attrs.frozen
class ExperimentDir:
    """Paths of one experiment directory."""

    path: Path

    @classmethod
    def for_config(cls, config: Config) -> tuple[ExperimentDir, Config]:
        """The directory for ``config`` and the config with its paths filled in.

        ``exp_name`` (default :func:`default_exp_name`) is taken verbatim under ``logdir``;
        the recorded paths are relative when ``logdir`` is, so a directory committed to a
        repository reloads from any clone.
        """
        name = _check_exp_name(config.exp_name or default_exp_name(config))
        path = Path(config.logdir) / name
        exp = cls(path)
        resolved = attrs.evolve(
            config,
            exp_name=name,
            expdir=str(path),
            ckpt_path=str(exp.checkpoint),
            config_path=str(exp.config_file),
        )
        return exp, resolved

    @property
    def config_file(self) -> Path:
        return self.path / "train_config.yml"

    @property
    def checkpoint(self) -> Path:
        return self.path / "model.pt"

    @property
    def state_file(self) -> Path:
        return self.path / "state.pt"

    @property
    def log_file(self) -> Path:
        return self.path / "log.csv"

    # ----- claims -----

    def existing_config(self) -> Config | None:
        """The ``train_config.yml`` already there, or None."""
        if not self.config_file.is_file():
            return None
        return Config.from_yaml_file(self.config_file)

    def has_results(self) -> bool:
        """Whether training output (weights, state or log) is already there."""
        return any(p.exists() for p in (self.checkpoint, self.state_file, self.log_file))

    # ----- log -----

    def start_log(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(LOG_COLUMNS)

    def append_log(self, record: EpochRecord) -> None:
        with open(self.log_file, "a", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(record.row())

    def read_log(self) -> list[dict[str, str]]:
        """The rows of ``log.csv`` (empty when absent)."""
        if not self.log_file.is_file():
            return []
        with open(self.log_file, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def truncate_log(self, epochs_done: int) -> None:
        """Keep only rows of completed epochs (a crash may leave a row past the state)."""
        rows = [r for r in self.read_log() if int(r["epoch"]) <= epochs_done]
        self.start_log()
        with open(self.log_file, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            for r in rows:
                writer.writerow([r.get(c, "") for c in LOG_COLUMNS])

    def last_logged_epoch(self) -> int:
        rows = self.read_log()
        return int(rows[-1]["epoch"]) if rows else 0


def check_same_experiment(
    existing: Config, wanted: Config, where: Path, keys: Sequence[str] = IDENTITY_KEYS
) -> None:
    """Raise :class:`ExperimentClashError` when ``existing`` trains another model."""
    diffs = [
        f"{k}: {getattr(existing, k)!r} there, {getattr(wanted, k)!r} now"
        for k in keys
        if getattr(existing, k) != getattr(wanted, k)
    ]
    if diffs:
        raise ExperimentClashError(
            f"{where} holds a different experiment ({'; '.join(diffs)}); "
            "choose another --exp_name or --logdir, or delete that directory"
        )


def replace_atomically(tmp: Path, final: Path) -> None:
    """Move a fully written ``tmp`` over ``final``, so readers never see half a file."""
    os.replace(tmp, final)
