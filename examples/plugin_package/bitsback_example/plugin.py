"""The plugin module the entry point names: one hook implementation per kind it adds."""

from __future__ import annotations

from collections.abc import Callable

from bitsback_core.registry import hookimpl


@hookimpl
def bitsback_register_coders(register: Callable[[type], None]) -> None:
    from bitsback_example.coder import FixedLatentCoder

    register(FixedLatentCoder)
