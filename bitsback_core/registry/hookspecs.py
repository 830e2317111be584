"""The hooks a bitsback plugin may implement.

Every hook receives one argument, ``register``: call it once per class you contribute.
The registry checks the class (right base class, a ``PLUGIN_NAME``, no clash with another
plugin) and records which plugin and distribution it came from. Hooks return nothing.

A plugin module::

    from bitsback_core import hookimpl

    @hookimpl
    def bitsback_register_coders(register):
        register(MyCoder)

and one line in its ``pyproject.toml``::

    [project.entry-points.bitsback]
    mine = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the interfaces are imported only when a class is checked
    from bitsback_core.coders import Coder
    from bitsback_core.datasets import Dataset
    from bitsback_core.discretizers import Discretizer
    from bitsback_core.models import LatentVariableModel
    from bitsback_core.proposals import Proposal

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name; also the entry-point group plugins are found under.
PROJECT_NAME = "bitsback"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def bitsback_register_models(register: Callable[[type[LatentVariableModel]], None]) -> None:
    """Register :class:`~bitsback_core.models.LatentVariableModel` subclasses.

    ``register(cls)`` adds a model under ``cls.PLUGIN_NAME`` (and ``cls.ALIASES``);
    configs select it with ``model: <name>``.
    """


@hookspec
def bitsback_register_proposals(register: Callable[[type[Proposal]], None]) -> None:
    """Register :class:`~bitsback_core.proposals.Proposal` subclasses.

    ``register(cls)`` adds a posterior proposal; configs select it with ``proposal: <name>``.
    """


@hookspec
def bitsback_register_discretizers(register: Callable[[type[Discretizer]], None]) -> None:
    """Register :class:`~bitsback_core.discretizers.Discretizer` subclasses.

    ``register(cls)`` adds a latent discretizer; configs select it with
    ``discretizer: <name>``.
    """


@hookspec
def bitsback_register_coders(register: Callable[[type[Coder]], None]) -> None:
    """Register :class:`~bitsback_core.coders.Coder` subclasses.

    ``register(cls)`` adds a bits-back (or other) coder; configs select it with
    ``coder: <name>``.
    """


@hookspec
def bitsback_register_datasets(register: Callable[[type[Dataset]], None]) -> None:
    """Register :class:`~bitsback_core.datasets.Dataset` subclasses.

    ``register(cls)`` adds a dataset; configs select it with ``dataset: <name>``.
    """
