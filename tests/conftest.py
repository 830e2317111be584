"""Fixtures shared across the whole test tree."""

from __future__ import annotations

from typing import Any

import pytest

from bitsback_core.models.interface import LatentVariableModel


class OpaqueModel(LatentVariableModel):
    """A model that satisfies the interface but is not differentiable (and computes nothing).

    For checks that refuse models lacking the torch boundary (training, iterative inference)
    before they ever call the model.
    """

    PLUGIN_NAME = "Opaque"
    latent_dim, obs_dim = 2, 784

    @classmethod
    def from_config(cls, config: Any, checkpoint: Any = None, device: str = "cpu") -> OpaqueModel:
        return cls()

    def posterior(self, x: Any) -> Any:
        raise NotImplementedError

    def likelihood(self, z: Any, prec: int) -> Any:
        raise NotImplementedError

    def log_weights(self, x: Any, num_particles: int, seed: int) -> Any:
        raise NotImplementedError

    def save(self, path: Any) -> None:
        raise NotImplementedError


@pytest.fixture
def opaque_model_class() -> type[LatentVariableModel]:
    """:class:`OpaqueModel`: a registered-able, non-differentiable model class."""
    return OpaqueModel
