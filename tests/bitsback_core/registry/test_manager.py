"""Registry rules and plugin loading, with entry points faked by monkeypatching."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bitsback_core.datasets import Dataset
from bitsback_core.errors import PluginError, UnknownComponentError
from bitsback_core.models import GaussianParams
from bitsback_core.proposals import Proposal
from bitsback_core.registry import Distribution, Registry, hookimpl, load_registry, manager

REPO_ROOT = Path(__file__).resolve().parents[3]


# ----- components -----


class ToyData(Dataset):
    PLUGIN_NAME = "Toy"
    ALIASES = ("toy-set",)

    def __init__(self, data_dir: Path, split: str, train: bool) -> None:
        self._x = np.zeros((3, 4), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._x)

    def intensities(self, indices: np.ndarray | slice) -> np.ndarray:
        return self._x[indices]


class OtherData(ToyData):
    PLUGIN_NAME = "Other"
    ALIASES = ()


class Amortized(Proposal):
    PLUGIN_NAME = "amortized"
    ALIASES = ("amo",)

    def __call__(self, x: np.ndarray, seed: int = 0) -> GaussianParams:
        return self.model.posterior(x)


def _data(name: str, aliases: tuple[str, ...] = ()) -> type[Dataset]:
    return type(f"Data_{name}", (ToyData,), {"PLUGIN_NAME": name, "ALIASES": aliases})


# ----- Registry -----


def test_get_by_name_and_alias() -> None:
    registry = Registry()
    entry = registry.register("dataset", ToyData, plugin="p", dist=Distribution("d", "1.0"))
    assert entry.name == "Toy" and entry.aliases == ("toy-set",)
    assert entry.class_path.endswith("ToyData")
    assert registry.get("dataset", "Toy") is ToyData
    assert registry.get("dataset", "toy-set") is ToyData
    assert registry.entry("dataset", "toy-set").plugin == "p"
    assert registry.names("dataset") == ["Toy"]
    assert len(registry) == 1


def test_lookup_is_case_insensitive_but_exact_spelling_wins() -> None:
    registry = Registry()
    registry.register("dataset", ToyData)
    assert registry.get("dataset", "TOY") is ToyData
    assert registry.get("dataset", "Toy-Set") is ToyData
    upper, lower = _data("BB"), _data("bb")
    registry.register("dataset", upper)
    registry.register("dataset", lower)
    assert registry.get("dataset", "BB") is upper
    assert registry.get("dataset", "bb") is lower
    with pytest.raises(UnknownComponentError, match="ambiguous.*BB, bb"):
        registry.get("dataset", "Bb")


def test_unknown_name_lists_available_names_and_suggests() -> None:
    registry = Registry()
    registry.register("dataset", ToyData)
    registry.register("dataset", OtherData)
    with pytest.raises(UnknownComponentError) as info:
        registry.get("dataset", "Tyo")
    message = str(info.value)
    assert "unknown dataset 'Tyo'" in message
    assert "Toy (alias toy-set)" in message and "Other" in message
    assert "did you mean 'Toy'" in message


def test_unknown_name_with_nothing_registered_points_at_plugins() -> None:
    with pytest.raises(UnknownComponentError, match="no coders are registered.*BITSBACK_PLUGINS"):
        Registry().get("coder", "BitsBackCoder")


def test_unknown_kind() -> None:
    with pytest.raises(UnknownComponentError, match="unknown component kind 'codec'.*coder"):
        Registry().get("codec", "x")
    with pytest.raises(UnknownComponentError):
        Registry().register("codec", ToyData)


def test_entries_are_grouped_by_kind_in_kind_order() -> None:
    registry = Registry()
    registry.register("dataset", ToyData)
    registry.register("proposal", Amortized)
    assert [e.kind for e in registry.entries()] == ["proposal", "dataset"]
    assert [e.name for e in registry.entries("dataset")] == ["Toy"]


def test_rejects_wrong_base_class() -> None:
    with pytest.raises(PluginError, match=r"plugin 'p'.*not a subclass of .*Coder"):
        Registry().register("coder", ToyData, plugin="p")
    with pytest.raises(PluginError, match="not a subclass"):
        Registry().register("dataset", "Toy", plugin="p")  # type: ignore[arg-type]


def test_rejects_abstract_class() -> None:
    class Half(Dataset):
        PLUGIN_NAME = "Half"

        def __len__(self) -> int:
            return 0

    with pytest.raises(PluginError, match="does not implement: __init__, intensities"):
        Registry().register("dataset", Half)


class Nameless(Dataset):
    """Concrete, but declares no PLUGIN_NAME."""

    __init__ = ToyData.__init__
    __len__ = ToyData.__len__
    intensities = ToyData.intensities


@pytest.mark.parametrize("bad_name", [None, "", "two words", 3])
def test_rejects_missing_or_bad_plugin_name(bad_name: Any) -> None:
    cls = Nameless if bad_name is None else type("Bad", (Nameless,), {"PLUGIN_NAME": bad_name})
    with pytest.raises(PluginError, match="PLUGIN_NAME must be a non-empty string"):
        Registry().register("dataset", cls)


@pytest.mark.parametrize("aliases", ["toy", ("",), (1,)])
def test_rejects_bad_aliases(aliases: Any) -> None:
    cls = type("Aliased", (ToyData,), {"PLUGIN_NAME": "A", "ALIASES": aliases})
    with pytest.raises(PluginError, match="ALIASES must be|each alias"):
        Registry().register("dataset", cls)


def test_duplicate_name_names_both_sources() -> None:
    registry = Registry()
    registry.register("dataset", _data("Toy"), plugin="x", dist=Distribution("a", "1.0"))
    with pytest.raises(PluginError) as info:
        registry.register("dataset", _data("Toy"), plugin="y", dist=Distribution("b", "2.0"))
    assert str(info.value) == (
        "dataset 'Toy' from plugin 'y' (dist b 2.0) clashes with plugin 'x' (dist a 1.0)"
    )
    assert registry.names("dataset") == ["Toy"]


def test_alias_clashes_with_name_or_alias() -> None:
    registry = Registry()
    registry.register("dataset", _data("Toy", ("t",)), plugin="x")
    with pytest.raises(
        PluginError, match="alias 'Toy' of 'New' from plugin 'y' clashes with plugin 'x'"
    ):
        registry.register("dataset", _data("New", ("Toy",)), plugin="y")
    with pytest.raises(PluginError, match=r"alias 't' of 'New2'.*plugin 'x' \(alias of 'Toy'\)"):
        registry.register("dataset", _data("New2", ("t",)), plugin="y")
    # a failed registration leaves nothing behind
    assert registry.names("dataset") == ["Toy"]
    registry.register("dataset", _data("New", ("n",)), plugin="y")


def test_same_name_in_different_kinds_is_fine() -> None:
    registry = Registry()
    registry.register("dataset", _data("amortized"))
    registry.register("proposal", Amortized)
    assert registry.get("proposal", "amortized") is Amortized


# ----- load_registry with faked entry points -----


class FakeDist(importlib.metadata.Distribution):
    """An installed distribution that exists only in memory."""

    def __init__(self, name: str, version: str, entry_points: dict[str, str]) -> None:
        lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
        self._files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "entry_points.txt": f"[bitsback]\n{lines}[console_scripts]\nunrelated = x:y\n",
        }

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: Any) -> Path:
        raise FileNotFoundError(path)


def _plugin_module(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install fake distributions: ``fake_plugins(("dist", "1.0", {"ep": module}), ...)``."""
    monkeypatch.delenv("BITSBACK_PLUGINS", raising=False)

    def install(*dists: tuple[str, str, dict[str, types.ModuleType | str]]) -> None:
        fakes = []
        for dist_name, version, entry_points in dists:
            targets = {}
            for ep_name, module in entry_points.items():
                if isinstance(module, types.ModuleType):
                    monkeypatch.setitem(sys.modules, module.__name__, module)
                    module = module.__name__
                targets[ep_name] = module
            fakes.append(FakeDist(dist_name, version, targets))
        monkeypatch.setattr(importlib.metadata, "distributions", lambda **_: iter(fakes))

    return install


def _data_plugin(module_name: str, *classes: type) -> types.ModuleType:
    def bitsback_register_datasets(register: Callable[[type], None]) -> None:
        for cls in classes:
            register(cls)

    return _plugin_module(module_name, bitsback_register_datasets=bitsback_register_datasets)


def test_load_registry_records_plugin_and_distribution(fake_plugins: Callable[..., None]) -> None:
    def bitsback_register_proposals(register: Callable[[type], None]) -> None:
        register(Amortized)

    both = _plugin_module(
        "fake_both",
        bitsback_register_proposals=bitsback_register_proposals,
        bitsback_register_datasets=lambda register: register(ToyData),
    )
    other = _data_plugin("fake_other", OtherData)
    fake_plugins(("toy-dist", "1.2", {"toy": both}), ("other-dist", "0.3", {"other": other}))
    registry = load_registry()
    toy = registry.entry("dataset", "toy-set")
    assert (toy.cls, toy.plugin, toy.dist) == (ToyData, "toy", Distribution("toy-dist", "1.2"))
    assert registry.entry("proposal", "amo").plugin == "toy"
    assert registry.entry("dataset", "Other").dist == Distribution("other-dist", "0.3")
    assert len(registry) == 3


def test_hook_without_register_parameter_is_called(fake_plugins: Callable[..., None]) -> None:
    calls: list[str] = []

    def bitsback_register_coders() -> None:
        calls.append("called")

    quiet = _plugin_module("fake_quiet", bitsback_register_coders=bitsback_register_coders)
    fake_plugins(("d", "1", {"quiet": quiet}))
    assert len(load_registry()) == 0 and calls == ["called"]


def test_duplicate_across_plugins_names_both(fake_plugins: Callable[..., None]) -> None:
    fake_plugins(
        ("a", "1.0", {"x": _data_plugin("fake_x", _data("Toy"))}),
        ("b", "2.0", {"y": _data_plugin("fake_y", _data("Toy"))}),
    )
    with pytest.raises(PluginError) as info:
        load_registry()
    assert str(info.value) == (
        "dataset 'Toy' from plugin 'y' (dist b 2.0) clashes with plugin 'x' (dist a 1.0)"
    )


def test_wrong_base_class_from_plugin(fake_plugins: Callable[..., None]) -> None:
    bad = _plugin_module("fake_bad", bitsback_register_coders=lambda register: register(ToyData))
    fake_plugins(("bad-dist", "9", {"bad": bad}))
    with pytest.raises(PluginError, match=r"plugin 'bad' \(dist bad-dist 9\).*not a subclass"):
        load_registry()


def test_env_var_limits_entry_points(
    fake_plugins: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    def tracking(name: str, cls: type) -> types.ModuleType:
        def bitsback_register_datasets(register: Callable[[type], None]) -> None:
            loaded.append(name)
            register(cls)

        return _plugin_module(f"fake_{name}", bitsback_register_datasets=bitsback_register_datasets)

    fake_plugins(
        ("ab", "1", {"a": tracking("a", _data("A")), "b": tracking("b", _data("B"))}),
        ("c", "1", {"c": tracking("c", _data("C"))}),
    )
    assert load_registry().names("dataset") == ["A", "B", "C"]  # unset: everything

    monkeypatch.setenv("BITSBACK_PLUGINS", " c, a ,")
    assert sorted(load_registry().names("dataset")) == ["A", "C"]

    monkeypatch.setenv("BITSBACK_PLUGINS", "")
    assert len(load_registry()) == 0

    assert load_registry(environ={"BITSBACK_PLUGINS": "b"}).names("dataset") == ["B"]

    monkeypatch.setenv("BITSBACK_PLUGINS", "a,nope")
    with pytest.raises(PluginError, match=r"'nope'.*entry points in group 'bitsback': a, b, c"):
        load_registry()


def test_env_var_filter_does_not_import_excluded_plugins(
    fake_plugins: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_plugins(
        (
            "d",
            "1",
            {
                "good": _data_plugin("fake_good", ToyData),
                "broken": "fake_module_that_does_not_exist",
            },
        )
    )
    monkeypatch.setenv("BITSBACK_PLUGINS", "good")
    assert load_registry().names("dataset") == ["Toy"]
    monkeypatch.delenv("BITSBACK_PLUGINS")
    with pytest.raises(
        PluginError,
        match=r"could not load plugin 'broken' "
        r"\(fake_module_that_does_not_exist\).*ModuleNotFound",
    ):
        load_registry()


def test_unknown_hook_fails_check_pending(fake_plugins: Callable[..., None]) -> None:
    typo = _plugin_module("fake_typo", bitsback_register_coder=lambda register: None)
    fake_plugins(("t", "1", {"typo": typo}))
    with pytest.raises(PluginError, match="bitsback_register_coder"):
        load_registry()


def test_exception_inside_hook_names_plugin(fake_plugins: Callable[..., None]) -> None:
    def bitsback_register_models(register: Callable[[type], None]) -> None:
        raise RuntimeError("boom")

    crash = _plugin_module("fake_crash", bitsback_register_models=bitsback_register_models)
    fake_plugins(("m", "1", {"crash": crash}))
    with pytest.raises(
        PluginError, match="plugin 'crash' failed in bitsback_register_models: RuntimeError: boom"
    ):
        load_registry()


def test_builtins_load_first_and_belong_to_bitsback(
    fake_plugins: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bitsback_core

    builtin = _data_plugin("fake_builtin_module", _data("Toy"))
    monkeypatch.setitem(sys.modules, "fake_builtin_module", builtin)
    monkeypatch.setattr(manager, "BUILTIN_PLUGINS", ["fake_builtin_module"])
    fake_plugins(("third", "5", {"third": _data_plugin("fake_third", _data("Toy"))}))
    monkeypatch.setenv("BITSBACK_PLUGINS", "")  # the filter never drops built-ins
    entry = load_registry().entry("dataset", "Toy")
    assert entry.plugin == "fake_builtin_module"
    assert entry.dist == Distribution("bitsback", bitsback_core.__version__)
    monkeypatch.delenv("BITSBACK_PLUGINS")
    with pytest.raises(
        PluginError,
        match=r"from plugin 'third' \(dist third 5\) clashes with "
        r"plugin 'fake_builtin_module' \(dist bitsback",
    ):
        load_registry()


def test_extra_plugins_have_no_distribution(fake_plugins: Callable[..., None]) -> None:
    fake_plugins()
    extra = _data_plugin("fake_extra", ToyData)
    entry = load_registry(extra_plugins=[extra, extra]).entry("dataset", "Toy")
    assert entry.plugin == "fake_extra" and entry.dist is None


def test_real_entry_point_discovery_is_lazy(tmp_path: Path) -> None:
    """A dist-info folder on sys.path is found by load_registry, never by ``import``."""
    site = tmp_path / "site"
    info = site / "fakeplug-3.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 3.1\n")
    (info / "entry_points.txt").write_text("[bitsback]\nfake = fakeplug_mod\n")
    (site / "fakeplug_mod.py").write_text(
        textwrap.dedent("""
        from bitsback_core import hookimpl
        from bitsback_core.datasets import Dataset

        class Fake(Dataset):
            PLUGIN_NAME = "FakeSet"
            def __init__(self, data_dir, split, train): pass
            def __len__(self): return 0
            def intensities(self, indices): return None

        @hookimpl
        def bitsback_register_datasets(register):
            register(Fake)
    """)
    )
    script = textwrap.dedent("""
        import sys
        import bitsback_core
        loaded = [m for m in sys.modules if m.startswith(("fakeplug", "bitsback_vae",
                                                        "bitsback_emnist", "bitsback_mcbits"))]
        assert not loaded, f"importing bitsback_core loaded plugins: {loaded}"
        entry = bitsback_core.load_registry().entry("dataset", "fakeset")
        print(entry.name, entry.plugin, entry.dist)
    """)
    env = dict(os.environ, BITSBACK_PLUGINS="fake")  # skip any installed real plugins
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(site)])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FakeSet fake fakeplug 3.1"
