"""The component registry and the one function that fills it from plugins.

Plugins never mutate global state: each hook implementation receives a ``register``
callable and hands it classes. :func:`load_registry` calls every implementation itself, one
plugin at a time, so that each :class:`Entry` knows which plugin and which installed
distribution it came from, and a clash can name both sides.

Loading is explicit and lazy: importing :mod:`bitsback_core` loads no plugin; commands call
:func:`load_registry` when they need a component.

Environment variable ``BITSBACK_PLUGINS``
    Comma-separated entry-point names (the left-hand side of the ``[project.entry-points.bitsback]``
    lines, e.g. ``emnist,vae,mcbits``) limiting which entry points are loaded. Unset: all of
    them. Set to an empty string: none (only the built-ins in :data:`BUILTIN_PLUGINS`).
    A name that matches no installed entry point is an error.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs
import pluggy

from bitsback_core.errors import BitsbackError, PluginError, UnknownComponentError
from bitsback_core.registry import hookspecs

if TYPE_CHECKING:  # the interfaces are imported lazily at run time (see Kind)
    from bitsback_core.coders import Coder
    from bitsback_core.datasets import Dataset
    from bitsback_core.discretizers import Discretizer
    from bitsback_core.models import LatentVariableModel
    from bitsback_core.proposals import Proposal

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "KINDS",
    "Distribution",
    "Entry",
    "Kind",
    "Registry",
    "load_registry",
]

#: Entry-point group that plugins declare themselves under.
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
#: Environment variable limiting which entry points load (see the module docstring).
ENV_VAR = "BITSBACK_PLUGINS"
#: Modules inside bitsback_core that are registered before any entry point. They are part of
#: the ``bitsback`` distribution and are not affected by ``BITSBACK_PLUGINS``.
BUILTIN_PLUGINS: list[str] = []


@attrs.frozen
class Kind:
    """A kind of component: its registry name, the hook that provides it, its base class.

    ``base`` is a ``"module:Class"`` path imported only when a class is checked, so that
    loading the registry module does not import every interface (and their dependencies).
    """

    name: str
    hook: str
    base: str

    @property
    def plural(self) -> str:
        return f"{self.name}s"

    def base_class(self) -> type:
        module_name, _, class_name = self.base.partition(":")
        cls: type = getattr(importlib.import_module(module_name), class_name)
        return cls


KINDS: tuple[Kind, ...] = (
    Kind("model", "bitsback_register_models", "bitsback_core.models:LatentVariableModel"),
    Kind("proposal", "bitsback_register_proposals", "bitsback_core.proposals:Proposal"),
    Kind("discretizer", "bitsback_register_discretizers", "bitsback_core.discretizers:Discretizer"),
    Kind("coder", "bitsback_register_coders", "bitsback_core.coders:Coder"),
    Kind("dataset", "bitsback_register_datasets", "bitsback_core.datasets:Dataset"),
)
_KINDS_BY_NAME = {kind.name: kind for kind in KINDS}


@attrs.frozen
class Distribution:
    """The installed distribution (package) a plugin came from."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@attrs.frozen
class Entry:
    """One registered class and where it came from."""

    kind: str
    name: str
    cls: type
    plugin: str
    dist: Distribution | None
    aliases: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """Human description of the origin, used in clash messages."""
        return _source(self.plugin, self.dist)

    @property
    def class_path(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


def _source(plugin: str, dist: Distribution | None) -> str:
    """``plugin 'x' (dist a 1.0)``: how messages name where a class came from."""
    where = f"plugin {plugin!r}"
    return f"{where} (dist {dist})" if dist is not None else where


def _kind(kind: str) -> Kind:
    try:
        return _KINDS_BY_NAME[kind]
    except KeyError:
        known = ", ".join(_KINDS_BY_NAME)
        message = f"unknown component kind {kind!r}; kinds are: {known}"
        raise UnknownComponentError(message) from None


def _check_name(value: object, what: str, cls: type, origin: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise PluginError(
            f"{cls.__module__}.{cls.__qualname__} from {origin}: {what} must be a non-empty "
            f"string without whitespace, got {value!r}"
        )
    return value


class Registry:
    """Registered classes by kind and name (``registry.get("coder", "BitsBackCoder")``).

    Names and aliases share one namespace per kind. Lookup tries the exact spelling first,
    then a case-insensitive match (which must be unique).
    """

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind.name: {} for kind in KINDS}
        # Every name and alias of a kind -> its entry.
        self._keys: dict[str, dict[str, Entry]] = {kind.name: {} for kind in KINDS}

    def register(
        self, kind: str, cls: type, *, plugin: str = "<direct>", dist: Distribution | None = None
    ) -> Entry:
        """Add ``cls`` under its ``PLUGIN_NAME`` and ``ALIASES``; return the new entry.

        Raises :class:`PluginError` if ``cls`` is not a concrete subclass of the kind's base
        class, lacks a name, or a name/alias is already taken (naming both sources).
        """
        spec = _kind(kind)
        base = spec.base_class()
        origin = _source(plugin, dist)
        if not isinstance(cls, type) or not issubclass(cls, base):
            raise PluginError(
                f"{origin} registered {cls!r} as a {kind}, but it is not a subclass of "
                f"{base.__module__}.{base.__qualname__}"
            )
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise PluginError(
                f"{origin} registered {cls.__module__}.{cls.__qualname__} as a {kind}, "
                f"but it does not implement: {missing}"
            )
        name = _check_name(getattr(cls, "PLUGIN_NAME", None), "PLUGIN_NAME", cls, origin)
        raw_aliases = getattr(cls, "ALIASES", ())
        if isinstance(raw_aliases, str) or not isinstance(raw_aliases, Iterable):
            raise PluginError(
                f"{cls.__module__}.{cls.__qualname__} from {origin}: ALIASES must be a tuple "
                f"of strings, got {raw_aliases!r}"
            )
        aliases = tuple(
            dict.fromkeys(
                _check_name(a, "each alias", cls, origin) for a in raw_aliases if a != name
            )
        )
        entry = Entry(kind=kind, name=name, cls=cls, plugin=plugin, dist=dist, aliases=aliases)
        keys = self._keys[kind]
        for key in (name, *aliases):
            if key in keys:
                other = keys[key]
                label = f"{kind} {name!r}" if key == name else f"{kind} alias {key!r} of {name!r}"
                theirs = "" if key == other.name else f" (alias of {other.name!r})"
                raise PluginError(
                    f"{label} from {entry.source} clashes with {other.source}{theirs}"
                )
        self._entries[kind][name] = entry
        for key in (name, *aliases):
            keys[key] = entry
        return entry

    def entry(self, kind: str, name: str) -> Entry:
        """The entry registered as ``name`` (or alias); see :meth:`get`."""
        spec = _kind(kind)
        keys = self._keys[kind]
        if name in keys:
            return keys[name]
        folded = name.casefold()
        matches = {id(e): e for key, e in keys.items() if key.casefold() == folded}
        if len(matches) == 1:
            return next(iter(matches.values()))
        if len(matches) > 1:
            names = ", ".join(sorted(e.name for e in matches.values()))
            raise UnknownComponentError(
                f"{kind} name {name!r} is ambiguous ignoring case: {names}; spell it exactly"
            )
        if not keys:
            raise UnknownComponentError(
                f"unknown {kind} {name!r}: no {spec.plural} are registered "
                f"(is the plugin providing it installed? is {ENV_VAR} limiting plugins?)"
            )
        close = difflib.get_close_matches(name, list(keys), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        available = ", ".join(self._describe(e) for e in self._entries[kind].values())
        raise UnknownComponentError(
            f"unknown {kind} {name!r}; {hint}available {spec.plural}: {available}"
        )

    # One overload per kind so callers see the base class, which registration checked.
    @overload
    def get(self, kind: Literal["model"], name: str) -> type[LatentVariableModel]: ...
    @overload
    def get(self, kind: Literal["proposal"], name: str) -> type[Proposal]: ...
    @overload
    def get(self, kind: Literal["discretizer"], name: str) -> type[Discretizer]: ...
    @overload
    def get(self, kind: Literal["coder"], name: str) -> type[Coder]: ...
    @overload
    def get(self, kind: Literal["dataset"], name: str) -> type[Dataset]: ...
    @overload
    def get(self, kind: str, name: str) -> type: ...

    def get(self, kind: str, name: str) -> type:
        """The class registered as ``name`` or one of its aliases.

        Exact spelling wins; otherwise a unique case-insensitive match. Raises
        :class:`UnknownComponentError` listing the available names if there is none.
        """
        return self.entry(kind, name).cls

    def entries(self, kind: str | None = None) -> list[Entry]:
        """All entries (of one kind, or of every kind in :data:`KINDS` order)."""
        kinds = [_kind(kind).name] if kind is not None else [k.name for k in KINDS]
        return [entry for k in kinds for entry in self._entries[k].values()]

    def names(self, kind: str) -> list[str]:
        """Registered names (not aliases) of one kind, in registration order."""
        return list(self._entries[_kind(kind).name])

    def __len__(self) -> int:
        return sum(len(by_name) for by_name in self._entries.values())

    @staticmethod
    def _describe(entry: Entry) -> str:
        if not entry.aliases:
            return entry.name
        return f"{entry.name} (alias {', '.join(entry.aliases)})"


def _installed_entry_points() -> dict[str, str]:
    """Entry-point names in our group -> their targets, as pluggy will see them."""
    import importlib.metadata  # only needed when plugins are actually loaded

    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.setdefault(ep.name, ep.value)
    return found


def _selected_entry_points(environ: Mapping[str, str]) -> dict[str, str]:
    installed = _installed_entry_points()
    raw = environ.get(ENV_VAR)
    if raw is None:
        return installed
    wanted = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in wanted if n not in installed]
    if unknown:
        have = ", ".join(sorted(installed)) or "none"
        raise PluginError(
            f"{ENV_VAR} names {', '.join(map(repr, unknown))}, which no installed distribution "
            f"provides; entry points in group {ENTRY_POINT_GROUP!r}: {have}"
        )
    return {n: installed[n] for n in wanted}


def load_registry(
    *, extra_plugins: Iterable[object] = (), environ: Mapping[str, str] | None = None
) -> Registry:
    """Load the plugins and return a registry of everything they register.

    Order: add the hook specs, register :data:`BUILTIN_PLUGINS`, load the
    ``bitsback`` entry points (filtered by ``BITSBACK_PLUGINS``, see the module docstring),
    register ``extra_plugins`` (objects or modules with hook implementations; handy in
    tests and notebooks), ``check_pending()``, then call every hook implementation.

    ``environ`` replaces :data:`os.environ` for reading ``BITSBACK_PLUGINS``.
    Raises :class:`PluginError` when a plugin cannot be imported, implements an unknown
    hook, fails in a hook, or registers a class the registry rejects.
    """
    environ = os.environ if environ is None else environ
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        _guarded(f"built-in plugin {module_name!r}", _register_module, pm, module_name)
    for ep_name, target in _selected_entry_points(environ).items():
        _guarded(
            f"plugin {ep_name!r} ({target})",
            pm.load_setuptools_entrypoints,
            ENTRY_POINT_GROUP,
            ep_name,
        )
    for plugin in extra_plugins:
        if not pm.is_registered(plugin):
            _guarded(f"plugin {plugin!r}", pm.register, plugin)
    _guarded("plugins", pm.check_pending)
    return _collect(pm)


def _register_module(pm: pluggy.PluginManager, module_name: str) -> None:
    pm.register(importlib.import_module(module_name), name=module_name)


def _guarded(what: str, action: Callable[..., Any], *args: Any) -> None:
    """Run a pluggy step, turning import and validation failures into a PluginError."""
    try:
        action(*args)
    except BitsbackError:
        raise
    except Exception as exc:
        raise PluginError(f"could not load {what}: {type(exc).__name__}: {exc}") from exc


def _collect(pm: pluggy.PluginManager) -> Registry:
    """Call each hook implementation on its own so every entry records its origin."""
    from bitsback_core import __version__

    dists: dict[int, Distribution] = {
        id(plugin): Distribution(str(info.project_name), str(info.version))
        for plugin, info in pm.list_plugin_distinfo()
    }
    builtin_dist = Distribution("bitsback", __version__)
    builtins = set(BUILTIN_PLUGINS)
    registry = Registry()
    for kind in KINDS:
        for impl in getattr(pm.hook, kind.hook).get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or impl.plugin_name
            dist = dists.get(id(impl.plugin), builtin_dist if plugin_name in builtins else None)
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(
                    f"plugin {plugin_name!r}: {kind.hook} must be a plain hook, not a wrapper"
                )

            register = functools.partial(
                registry.register, kind.name, plugin=plugin_name, dist=dist
            )
            arguments = {"register": register}
            try:
                impl.function(*(arguments[name] for name in impl.argnames))
            except BitsbackError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name!r} failed in {kind.hook}: {type(exc).__name__}: {exc}"
                ) from exc
    return registry
