"""Exceptions the library raises for bad input, so front ends can report them cleanly.

The library never prints or exits; it raises. Everything derived from
:class:`BitsbackError` is a problem with what the user supplied (a config key, a plugin
name, a file), so the CLI shows it as a one-line message instead of a traceback.
The subclasses also derive from the matching builtin (``ValueError``, ``LookupError``)
so callers that already catch those keep working.
"""

from __future__ import annotations

__all__ = ["BitsbackError", "ConfigError", "PluginError", "UnknownComponentError"]


class BitsbackError(Exception):
    """Base class of every error caused by user input rather than by a bug."""


class ConfigError(BitsbackError, ValueError):
    """A config file or override is malformed: unknown key, wrong type, bad value."""


class PluginError(BitsbackError, ValueError):
    """A plugin could not be loaded or registered a component the registry rejects."""


class UnknownComponentError(BitsbackError, LookupError):
    """A component name (coder, model, ...) matches nothing in the registry."""
