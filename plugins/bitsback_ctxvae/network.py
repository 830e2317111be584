"""The context VAE network: the paper's VAE plus a learned logit per pixel context.

``p(x|z) = prod_p Bernoulli(x_p; sigmoid(decode(z)_p + ctx_logit[context_p(x)]))``: the
latent carries the image's shape, the context table its local texture (edges, stroke
ends), which a VAE with independent pixels must otherwise spend latent information or
likelihood on. On thresholded scans the local texture is most of the entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bitsback_ctxvae.context import NUM_CONTEXTS, context_index
from bitsback_vae.network import DEFAULT_LATENT_DIM, BinaryVAENetwork

__all__ = ["ContextVAENetwork"]


class ContextVAENetwork(BinaryVAENetwork):
    """:class:`BinaryVAENetwork` whose likelihood adds ``ctx_logit[context]`` to every logit."""

    def __init__(self, latent_dim: int = DEFAULT_LATENT_DIM) -> None:
        super().__init__(latent_dim)
        self.ctx_logit = nn.Parameter(torch.zeros(NUM_CONTEXTS))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the pixels; the contexts come from ``x`` itself (teacher forcing)."""
        logits = self.decode(z) + self.ctx_logit[context_index(x)]
        target = x.to(logits.dtype).expand_as(logits)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return -bce.sum(dim=-1)
