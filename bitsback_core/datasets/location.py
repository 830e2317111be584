"""Where dataset files live: explicit directory, then ``BITSBACK_DATA_DIR``, then a user cache."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "default_data_dir", "resolve_data_dir"]

DATA_DIR_ENV = "BITSBACK_DATA_DIR"


def resolve_data_dir(
    explicit: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The directory to read (or download) dataset files into.

    An explicit ``--datadir`` wins; else the ``BITSBACK_DATA_DIR`` variable;
    else ``$XDG_CACHE_HOME/bitsback/data`` (``~/.cache/bitsback/data``).
    """
    env = os.environ if environ is None else environ
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV]).expanduser()
    return default_data_dir(env)


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/bitsback/data`` or ``~/.cache/bitsback/data``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec requires.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "bitsback" / "data"
