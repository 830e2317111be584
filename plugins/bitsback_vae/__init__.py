"""bitsback_vae: the paper's BinaryVAE as a bitsback model plugin.

Public names are resolved lazily so that ``import bitsback_vae.plugin`` (done by the
registry for every installed plugin) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AmortizedProposal",
    "BinaryVAE",
    "BinaryVAENetwork",
    "CheckpointError",
    "IterativeProposal",
    "bounds_bpd",
    "loss",
]

_LOCATIONS = {
    "AmortizedProposal": "bitsback_vae.proposals",
    "IterativeProposal": "bitsback_vae.proposals",
    "BinaryVAE": "bitsback_vae.model",
    "CheckpointError": "bitsback_vae.model",
    "BinaryVAENetwork": "bitsback_vae.network",
    "bounds_bpd": "bitsback_vae.bounds",
    "loss": "bitsback_vae.bounds",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'bitsback_vae' has no attribute {name!r}")
