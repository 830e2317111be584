"""Where numba caches compiled kernels: one folder per version of the kernel sources.

Why: numba keys a cached kernel on the timestamp of the file that defines it, and of no
other file. Every rANS pop kernel inlines the row loop of ``ans/_kernels.py``, the
portable distribution kernels inline the table lookups of ``portable/kernels.py``, a
plugin's kernel inlines both: after a change to one of those helpers, a kernel whose own
file did not change keeps running the old helper from its cache (measured: a cached
function calling an edited helper in another file went on returning the old value). In a
coder that is the worst kind of failure, a silent one: files written by the stale kernel
need not decode anywhere else. So the cache lives in a folder named after a digest of
every source file that uses numba, the package's and its installed plugins'; change any
of them and every kernel compiles anew, into a new folder.

``import bitsback_core`` sets ``NUMBA_CACHE_DIR`` to that folder, under the per-user
cache (``$XDG_CACHE_HOME/bitsback/numba``, else ``~/.cache/bitsback/numba``), before
numba is imported. A ``NUMBA_CACHE_DIR`` the user set is kept, and so is numba's own
default when numba was imported first or the folder cannot be created (then a kernel's
cache is stale-prone again, as numba documents). Each use marks its folder's time; folders
of other source versions unused for :data:`KEEP_DAYS` days are removed, so a developer's
edits do not pile up compiled code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path

__all__ = [
    "KEEP_DAYS",
    "cache_root",
    "configure_kernel_cache",
    "kernel_roots",
    "prune",
    "source_digest",
]

#: Folders of other source versions unused for this many days are removed.
KEEP_DAYS = 14

#: The entry-point group plugins register in (``bitsback_core.registry``'s, repeated here
#: because the registry package must not be imported this early).
_PLUGIN_GROUP = "bitsback"


def cache_root(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME/bitsback/numba``; a relative XDG value is ignored, per the spec."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "bitsback" / "numba"


def kernel_roots() -> list[Path]:
    """This package's folder and the package folder of every installed plugin."""
    from importlib.metadata import entry_points

    roots = [Path(__file__).resolve().parent]
    for ep in entry_points(group=_PLUGIN_GROUP):
        spec = importlib.util.find_spec(ep.value.split(":")[0].split(".")[0])
        for location in (spec.submodule_search_locations or []) if spec else []:
            roots.append(Path(location).resolve())
    return sorted(set(roots))


def source_digest(roots: Iterable[Path]) -> str:
    """SHA-256 of every ``.py`` file under ``roots`` that mentions numba: names and bytes."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            data = path.read_bytes()
            if b"numba" in data:
                digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def configure_kernel_cache(
    environ: MutableMapping[str, str] | None = None,
    loaded: frozenset[str] | None = None,
    roots: Iterable[Path] | None = None,
) -> Path | None:
    """Point ``NUMBA_CACHE_DIR`` at the folder of the current kernel sources; returns it.

    None (and nothing set) when the user chose a folder, numba is already imported (it
    reads the variable once), or the folder cannot be created. ``environ``, ``loaded``
    (module names) and ``roots`` default to this process's; tests pass their own.
    """
    env = os.environ if environ is None else environ
    modules = frozenset(sys.modules) if loaded is None else loaded
    if "NUMBA_CACHE_DIR" in env or "numba" in modules:
        return None
    try:
        folder = cache_root(env) / source_digest(kernel_roots() if roots is None else roots)[:16]
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no home, a read-only cache: numba's default then
        return None
    env["NUMBA_CACHE_DIR"] = str(folder)
    prune(folder)
    return folder


def prune(current: Path, now: float | None = None) -> list[Path]:
    """Mark ``current`` used now; remove its siblings unused for :data:`KEEP_DAYS` days.

    Returns what was removed. Best effort: a folder that cannot be removed (another user's,
    in use on a system without unlink-while-open) is left, silently.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        os.utime(current, (now, now))
        for other in current.parent.iterdir():
            if other != current and other.is_dir():
                if now - other.stat().st_mtime > KEEP_DAYS * 86400:
                    shutil.rmtree(other, ignore_errors=True)
                    removed.append(other)
    except OSError:
        pass
    return removed
