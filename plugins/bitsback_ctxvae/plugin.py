"""Pluggy hook that registers the context VAE (imports torch only inside the hook)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["bitsback_register_models"]

hookimpl = pluggy.HookimplMarker("bitsback")


@hookimpl
def bitsback_register_models(register: Callable[[type], Any]) -> None:
    """Register :class:`~bitsback_ctxvae.model.ContextVAE`."""
    from bitsback_ctxvae.model import ContextVAE

    register(ContextVAE)
