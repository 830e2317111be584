"""A minimal progress protocol, so the library reports progress without knowing about rich."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Advance", "ProgressFactory", "no_progress"]

Advance = Callable[[int], None]


class ProgressFactory(Protocol):
    """Called once per phase; returns the function that advances that phase by ``n`` items."""

    def __call__(self, description: str, total: int) -> Advance: ...


def no_progress(description: str, total: int) -> Advance:
    return lambda n: None
