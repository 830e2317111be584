"""Meta-tests: every hook is documented, typed, and wired to a registry kind."""

from __future__ import annotations

import inspect

import pluggy

import bitsback_core
from bitsback_core.registry import KINDS, hookimpl, hookspecs


def _hook_functions() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if name.startswith("bitsback_") and inspect.isfunction(fn)
    }


def test_every_hook_is_a_spec_with_docstring_and_register_argument() -> None:
    hooks = _hook_functions()
    assert hooks, "no hook specs found"
    for name, fn in hooks.items():
        assert hasattr(fn, "bitsback_spec"), f"{name} is not marked with @hookspec"
        doc = inspect.getdoc(fn)
        assert doc and "register" in doc, f"{name} must document what register takes"
        params = list(inspect.signature(fn).parameters)
        assert params == ["register"], f"{name} must take exactly `register`, got {params}"
        assert "register" in fn.__annotations__, f"{name}: `register` must be typed"


def test_hooks_and_kinds_match_one_to_one() -> None:
    assert {kind.hook for kind in KINDS} == set(_hook_functions())
    assert [kind.name for kind in KINDS] == ["model", "proposal", "discretizer", "coder", "dataset"]


def test_kind_base_classes_are_the_interfaces() -> None:
    from bitsback_core.coders import Coder
    from bitsback_core.datasets import Dataset
    from bitsback_core.discretizers import Discretizer
    from bitsback_core.models import LatentVariableModel
    from bitsback_core.proposals import Proposal

    bases = {kind.name: kind.base_class() for kind in KINDS}
    assert bases == {
        "model": LatentVariableModel,
        "proposal": Proposal,
        "discretizer": Discretizer,
        "coder": Coder,
        "dataset": Dataset,
    }


def test_hookimpl_is_reexported_and_bound_to_the_bitsback_project() -> None:
    assert bitsback_core.hookimpl is hookimpl

    @hookimpl
    def bitsback_register_coders(register):  # type: ignore[no-untyped-def]
        pass

    assert hasattr(bitsback_register_coders, "bitsback_impl")
    pm = pluggy.PluginManager("bitsback")
    pm.add_hookspecs(hookspecs)
    assert set(_hook_functions()) <= {name for name in dir(pm.hook) if not name.startswith("_")}
