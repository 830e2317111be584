"""FixedLatentCoder: code every image with the model's decoder at one fixed latent.

A baseline for comparing coders: ``-log2 p(x | z0)`` per image, where ``z0`` is the
latent at the centre bucket of every dimension (the prior's median). No latent is coded
and no bits come back; the gap to BB-ELBO is what inference over the latent buys.

It uses only the core's public pieces: the :class:`~bitsback_core.coders.interface.Coder`
interface, the model's quantized likelihood, the discretizer's bucket values and the
lane-aware :class:`~bitsback_core.ans.codec.LaneView`.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.coders.interface import Coder
from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["FixedLatentCoder"]


class FixedLatentCoder(Coder):
    """Push ``x ~ P(x | z0)``; pop it back. The same distribution on both sides."""

    PLUGIN_NAME = "FixedLatentCoder"
    ALIASES = ("fixed-latent",)

    def likelihood(self, chains: int) -> QuantizedDistribution:
        """Quantized ``p(x | z0)`` for every chain (``z0``: the centre bucket of each dimension)."""
        centre = np.full((chains, self.model.latent_dim), self.discretizer.num_buckets // 2)
        return self.model.likelihood(self.discretizer.values(centre), self.cond_mprec)

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        io = LaneView.for_step(message, step, active)
        io.push(self.likelihood(x.shape[0]), np.asarray(x, dtype=np.int64))

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        x = io.pop(self.likelihood(message.shape[0]))
        if active is not None:
            x[~np.asarray(active, bool)] = 0  # rows of chains without an image this step
        return x
