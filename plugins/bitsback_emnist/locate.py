"""Where the image files live, and the error a user sees when they are not there.

Resolution order for the data directory: an explicit path (``--datadir``), then the
``BITSBACK_DATA_DIR`` environment variable, then a per-user cache directory
(``$XDG_CACHE_HOME/bitsback/data``, or ``~/.cache/bitsback/data``), which is also where
``bitsback download`` puts files by default.  Nothing is ever fetched implicitly: a
missing file is an error that says exactly what to put where.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from bitsback_core.datasets.location import DATA_DIR_ENV, default_data_dir, resolve_data_dir

__all__ = [
    "DATA_DIR_ENV",
    "DatasetNotFoundError",
    "default_data_dir",
    "find_dataset_dir",
    "resolve_data_dir",
]

#: Environment variable naming the data directory when no explicit one is given.


class DatasetNotFoundError(ValueError):
    """The files of a dataset split are not in the data directory.

    Attributes keep the details for programmatic use (e.g. a CLI offering a download).
    """

    def __init__(
        self,
        message: str,
        *,
        searched: Sequence[Path],
        expected: Sequence[str],
        missing: Sequence[str],
    ) -> None:
        super().__init__(message)
        self.searched = tuple(searched)
        self.expected = tuple(expected)
        self.missing = tuple(missing)


def find_dataset_dir(
    data_dir: Path,
    names: Sequence[str],
    *,
    dataset: str,
    subdir: str | None = None,
    download_hint: bool = False,
) -> Path:
    """Return the directory holding all of ``names``: ``data_dir`` or ``data_dir/subdir``.

    The subdirectory fallback lets one data directory hold several datasets side by side
    (e.g. ``data/emnist`` and ``data/mnist``).  If neither holds every file, raise
    :class:`DatasetNotFoundError` listing the expected names, what is missing, the
    directories searched and how to fix it.
    """
    candidates = [data_dir]
    if subdir is not None:
        candidates.append(data_dir / subdir)
    for candidate in candidates:
        if all((candidate / name).is_file() for name in names):
            return candidate
    # Report against the candidate that got furthest, so "missing" is the useful list.
    best = max(candidates, key=lambda c: sum((c / n).is_file() for n in names))
    missing = [n for n in names if not (best / n).is_file()]
    searched = " and ".join(str(c) for c in candidates)
    where = f"{data_dir}" + (f" (or {data_dir / subdir})" if subdir is not None else "")
    lines = [
        f"{dataset} files not found (searched {searched}).",
        "Expected files:",
        *(f"  {n}{'  (missing)' if n in missing else ''}" for n in names),
        "To fix it:",
        f"  - put these files in {where}, or point --datadir / ${DATA_DIR_ENV} at the"
        " directory that holds them;",
    ]
    if download_hint:
        lines.append(
            f"  - or run `bitsback download --dataset {dataset} "
            f"--datadir {shlex.quote(str(data_dir))}` to fetch the official files."
        )
    raise DatasetNotFoundError(
        "\n".join(lines), searched=candidates, expected=names, missing=missing
    )
