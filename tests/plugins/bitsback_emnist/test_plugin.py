"""Tests for the registry hook of the EMNIST plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pluggy

import bitsback_emnist.plugin as plugin
from bitsback_emnist.datasets import EMNIST, MNIST

REPO = Path(__file__).resolve().parents[3]


class _Spec:
    """A stand-in for the core hookspec, with the same project name and signature."""

    @pluggy.HookspecMarker("bitsback")
    def bitsback_register_datasets(self, register):  # type: ignore[no-untyped-def]
        """Call ``register(cls)`` for each dataset class."""


def test_hook_registers_both_datasets() -> None:
    pm = pluggy.PluginManager("bitsback")
    pm.add_hookspecs(_Spec)
    pm.register(plugin)
    registered: list[type] = []
    pm.hook.bitsback_register_datasets(register=registered.append)
    assert registered == [EMNIST, MNIST]


def test_import_is_cheap() -> None:
    """Importing the plugin (as entry-point loading does) pulls in neither torch nor urllib."""
    code = (
        "import sys, bitsback_emnist.plugin, bitsback_emnist; "
        "bad = [m for m in ('torch', 'urllib.request') if m in sys.modules]; "
        "assert not bad, bad"
    )
    env_path = f"{REPO}{':'}{REPO / 'plugins'}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": env_path, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_lazy_download_attributes() -> None:
    import bitsback_emnist
    from bitsback_emnist.download import download_emnist

    assert bitsback_emnist.download_emnist is download_emnist
