"""The plugin registry: hook specs, the :class:`Registry` and :func:`load_registry`.

Nothing is loaded at import time; call :func:`load_registry` (``BITSBACK_PLUGINS`` limits
which entry points it loads, see :mod:`bitsback_core.registry.manager`).
"""

from bitsback_core.registry.hookspecs import hookimpl, hookspec
from bitsback_core.registry.manager import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    ENV_VAR,
    KINDS,
    Distribution,
    Entry,
    Kind,
    Registry,
    load_registry,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "KINDS",
    "Distribution",
    "Entry",
    "Kind",
    "Registry",
    "hookimpl",
    "hookspec",
    "load_registry",
]
