"""Pluggy hooks that register the VAE model and its proposals with bitsback.

Importing this module must stay cheap (the registry imports every plugin to discover
it), so torch and the modules that need it are imported inside the hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["hookimpl", "bitsback_register_models", "bitsback_register_proposals"]

hookimpl = pluggy.HookimplMarker("bitsback")


@hookimpl
def bitsback_register_models(register: Callable[[type], Any]) -> None:
    """Register :class:`~bitsback_vae.model.BinaryVAE`."""
    from bitsback_vae.model import BinaryVAE

    register(BinaryVAE)


@hookimpl
def bitsback_register_proposals(register: Callable[[type], Any]) -> None:
    """Register the amortized and iterative proposals."""
    from bitsback_vae.proposals import AmortizedProposal, IterativeProposal

    register(AmortizedProposal)
    register(IterativeProposal)
