"""The proposal interface: where the coder's q(z|x) comes from.

The default proposal is the model's amortized encoder; an improvable proposal (such as
iterative inference) refines it per image. A proposal must be a deterministic function of
``x`` and the batch shape (seed any randomness from ``seed``), because the decoder
recomputes it from the decoded image alone.

Minimal plugin::

    class Amortized(Proposal):
        PLUGIN_NAME = "amortized"
        def __call__(self, x, seed=0):
            return self.model.posterior(x)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from bitsback_core.models.interface import GaussianParams, LatentVariableModel

__all__ = ["Proposal"]


class Proposal(ABC):
    """Produces Gaussian posterior parameters q(z|x) for a batch of observations."""

    PLUGIN_NAME: ClassVar[str]
    ALIASES: ClassVar[tuple[str, ...]] = ()
    #: Whether each row's parameters depend only on that row (and the seed): no generator
    #: draws for the whole batch. False unless a proposal says so.
    PER_ROW: ClassVar[bool] = False

    def __init__(self, model: LatentVariableModel, **options: Any) -> None:
        self.model = model
        self.options = options

    @abstractmethod
    def __call__(self, x: np.ndarray, seed: int = 0) -> GaussianParams:
        """Posterior parameters for ``x`` of shape ``(batch, obs_dim)``."""
