"""The paper's BinaryVAE network: a two-hidden-layer MLP encoder and decoder.

The attribute names (``enc_fc1`` ... ``dec_fc3``) are exactly those of the paper's
checkpoints, so their state dicts load with ``strict=True`` and no key remapping. The
network is pure torch and knows nothing about numpy or quantization; the model wrapper in
:mod:`bitsback_vae.model` adds that boundary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BinaryVAENetwork", "OBS_DIM", "HIDDEN_DIM", "DEFAULT_LATENT_DIM"]

#: Flattened 28x28 binary images.
OBS_DIM = 784
#: Width of both hidden layers in the paper's architecture.
HIDDEN_DIM = 200
DEFAULT_LATENT_DIM = 50

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class BinaryVAENetwork(nn.Module):
    """Encoder q(z|x) = N(mean, exp(log_std)^2) and decoder p(x|z) = Bernoulli(sigmoid(logits)).

    Hidden activations are tanh, as in the paper (and the IWAE paper it follows).
    """

    def __init__(self, latent_dim: int = DEFAULT_LATENT_DIM) -> None:
        super().__init__()
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        self.latent_dim = latent_dim
        self.enc_fc1 = nn.Linear(OBS_DIM, HIDDEN_DIM)
        self.enc_fc2 = nn.Linear(HIDDEN_DIM, HIDDEN_DIM)
        self.enc_fc31 = nn.Linear(HIDDEN_DIM, latent_dim)
        self.enc_fc32 = nn.Linear(HIDDEN_DIM, latent_dim)
        self.dec_fc1 = nn.Linear(latent_dim, HIDDEN_DIM)
        self.dec_fc2 = nn.Linear(HIDDEN_DIM, HIDDEN_DIM)
        self.dec_fc3 = nn.Linear(HIDDEN_DIM, OBS_DIM)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mean, log_std)`` of q(z|x) for float images ``x`` of shape ``(..., 784)``."""
        h = torch.tanh(self.enc_fc1(x))
        h = torch.tanh(self.enc_fc2(h))
        return self.enc_fc31(h), self.enc_fc32(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the Bernoulli logits of p(x|z), shape ``z.shape[:-1] + (784,)``."""
        h = torch.tanh(self.dec_fc1(z))
        h = torch.tanh(self.dec_fc2(h))
        return self.dec_fc3(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(x)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the 784 pixels, shape ``z.shape[:-1]``.

        Uses ``binary_cross_entropy_with_logits`` rather than ``log(sigmoid)`` so that
        confident pixels do not underflow to ``log(0)``. ``x`` broadcasts against the
        leading (particle) dimensions of ``z``.
        """
        logits = self.decode(z)
        target = x.to(logits.dtype).expand_as(logits)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return -bce.sum(dim=-1)

    def log_weights(
        self, x: torch.Tensor, eps: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
    ) -> torch.Tensor:
        """Reparameterized log p(x, z) - log q(z|x) with z = mean + exp(log_std) * eps.

        ``eps`` has shape ``(K, batch, latent_dim)``; the result has shape ``(K, batch)``.
        log q is written in terms of ``eps`` (``(z - mean) / std == eps``), which is the
        same value but avoids dividing by a possibly tiny std.
        """
        z = mean + torch.exp(log_std) * eps
        log_prior = (-0.5 * z.square() - _HALF_LOG_2PI).sum(dim=-1)
        log_q = (-0.5 * eps.square() - log_std - _HALF_LOG_2PI).sum(dim=-1)
        return log_prior + self.log_likelihood(x, z) - log_q

    def encode_log_weights(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """:meth:`log_weights` under the amortized posterior q(z|x) (differentiable)."""
        mean, log_std = self.encode(x)
        return self.log_weights(x, eps, mean, log_std)
