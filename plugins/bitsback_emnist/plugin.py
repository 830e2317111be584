"""Registry hook: contributes the EMNIST and MNIST datasets to bitsback.

The marker is created here rather than imported from the core registry so this module
only needs pluggy; a ``HookimplMarker`` with the same project name is interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from bitsback_emnist.datasets import EMNIST, MNIST

__all__ = ["bitsback_register_datasets", "hookimpl"]

hookimpl = pluggy.HookimplMarker("bitsback")


@hookimpl
def bitsback_register_datasets(register: Callable[[type], object]) -> None:
    """Register the dataset classes of this package."""
    register(EMNIST)
    register(MNIST)
