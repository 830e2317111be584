"""Kernel cache folders follow the kernel sources, so no cached kernel outlives a helper it inlined."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import bitsback_core
from bitsback_core.kernel_cache import (
    KEEP_DAYS,
    cache_root,
    configure_kernel_cache,
    prune,
    source_digest,
)

_REPO = Path(bitsback_core.__file__).resolve().parents[1]


def _write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text))


def test_digest_follows_numba_sources_only(tmp_path: Path) -> None:
    _write(tmp_path / "kernel.py", "import numba\nX = 1\n")
    _write(tmp_path / "plain.py", "Y = 1\n")
    before = source_digest([tmp_path])
    _write(tmp_path / "plain.py", "Y = 2\n")
    assert source_digest([tmp_path]) == before  # editing code without kernels keeps the cache
    _write(tmp_path / "kernel.py", "import numba\nX = 2\n")
    assert source_digest([tmp_path]) != before


def test_sets_a_folder_under_the_user_cache(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = configure_kernel_cache(env, frozenset(), [tmp_path])
    assert folder is not None and folder.is_dir()
    assert folder.parent == cache_root(env) == tmp_path / "bitsback" / "numba"
    assert env["NUMBA_CACHE_DIR"] == str(folder)


def test_prunes_only_other_versions_unused_for_long(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    current, recent, stale = (tmp_path / name for name in ("cur", "recent", "stale"))
    for folder, age_days in ((current, 99), (recent, KEEP_DAYS - 1), (stale, KEEP_DAYS + 1)):
        folder.mkdir()
        (folder / "kernel.nbi").write_bytes(b"x")
        os.utime(folder, (now - age_days * 86400,) * 2)
    assert prune(current, now) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cur", "recent"]
    assert current.stat().st_mtime == now  # marked used


def test_keeps_the_users_folder_and_an_imported_numba(tmp_path: Path) -> None:
    env = {"NUMBA_CACHE_DIR": "/somewhere", "XDG_CACHE_HOME": str(tmp_path)}
    assert configure_kernel_cache(env, frozenset(), [tmp_path]) is None
    assert env["NUMBA_CACHE_DIR"] == "/somewhere"
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    assert configure_kernel_cache(env, frozenset({"numba"}), [tmp_path]) is None
    assert "NUMBA_CACHE_DIR" not in env


def test_importing_the_package_points_numba_at_the_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    code = "import os, bitsback_core, numba; print(numba.config.CACHE_DIR)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(out).parent == tmp_path / "bitsback" / "numba"


def test_a_cached_kernel_does_not_outlive_the_helper_it_inlined(tmp_path: Path) -> None:
    """The failure this module exists for, in two fresh processes: with numba's own cache
    the second run would still print 1 (its kernel's file did not change)."""
    src = tmp_path / "src"
    src.mkdir()
    helper = "import numba\n@numba.njit(cache=True, inline='always')\ndef f():\n    return {}\n"
    _write(src / "helper.py", helper.format(1))
    _write(src / "kernel.py", "import numba\nfrom helper import f\n@numba.njit(cache=True)\ndef g():\n    return f()\n")  # fmt: skip
    run = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        sys.path.insert(0, {str(src)!r})
        from bitsback_core.kernel_cache import configure_kernel_cache
        env = {{"XDG_CACHE_HOME": {str(tmp_path)!r}}}
        os.environ["NUMBA_CACHE_DIR"] = str(configure_kernel_cache(env, frozenset(), [Path({str(src)!r})]))
        from kernel import g
        print(g())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(_REPO)

    def result() -> str:
        return subprocess.run(
            [sys.executable, "-c", run], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert result() == "1"
    assert result() == "1"  # from the cache
    _write(src / "helper.py", helper.format(2))
    assert result() == "2"
