"""Tests for bitsback_vae.plugin: hook registration and a cheap import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pluggy

import bitsback_vae.plugin as plugin
from bitsback_core.registry import hookspecs

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_plugin_import_does_not_import_torch() -> None:
    code = "import sys, bitsback_vae.plugin; assert 'torch' not in sys.modules, 'torch imported'"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "plugins")])
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_hooks_register_model_and_proposals_through_pluggy() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    models: list[type] = []
    proposals: list[type] = []
    manager.hook.bitsback_register_models(register=models.append)
    manager.hook.bitsback_register_proposals(register=proposals.append)
    assert [cls.PLUGIN_NAME for cls in models] == ["BinaryVAE"]
    assert [cls.PLUGIN_NAME for cls in proposals] == ["amortized", "iterative"]


def test_package_exports_resolve_lazily() -> None:
    import bitsback_vae

    assert bitsback_vae.BinaryVAE.PLUGIN_NAME == "BinaryVAE"
    assert callable(bitsback_vae.bounds_bpd)
    try:
        bitsback_vae.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:
        raise AssertionError("unknown attribute did not raise")
