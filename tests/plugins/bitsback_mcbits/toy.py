"""A small numpy-only latent-variable model for fast, torch-free coder tests."""

from __future__ import annotations

import numpy as np

from bitsback_core.distributions import Bernoulli
from bitsback_core.models.interface import GaussianParams, LatentVariableModel
from bitsback_core.proposals.interface import Proposal


class ToyModel(LatentVariableModel):
    PLUGIN_NAME = "Toy"

    def __init__(self, latent_dim: int = 4, obs_dim: int = 12, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.latent_dim, self.obs_dim = latent_dim, obs_dim
        self.w_enc = rng.normal(size=(obs_dim, latent_dim)) / np.sqrt(obs_dim)
        self.w_dec = rng.normal(size=(latent_dim, obs_dim)) * 1.5

    @classmethod
    def from_config(cls, config, checkpoint=None, device="cpu"):
        return cls()

    def posterior(self, x):
        h = (np.asarray(x, np.float64) - 0.5) @ self.w_enc
        return GaussianParams(mean=np.tanh(h) * 2.0, std=np.full(h.shape, 0.4))

    def likelihood(self, z, prec):
        return Bernoulli(1.0 / (1.0 + np.exp(-(np.asarray(z) @ self.w_dec))), prec)

    def log_weights(self, x, num_particles, seed):
        raise NotImplementedError

    def save(self, path):
        raise NotImplementedError


class ToyProposal(Proposal):
    PLUGIN_NAME = "toy_amortized"

    def __call__(self, x, seed=0):
        return self.model.posterior(x)


def toy_data(num: int, obs_dim: int = 12, seed: int = 1) -> np.ndarray:
    """Binary images correlated with a hidden code, so the model is not hopeless."""
    rng = np.random.default_rng(seed)
    base = rng.random((3, obs_dim)) < 0.5
    rows = base[rng.integers(0, 3, num)]
    flip = rng.random((num, obs_dim)) < 0.1
    return (rows ^ flip).astype(np.uint8)
