"""StochasticCoder: code a sampled latent without getting any bits back (the baseline)."""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_mcbits.coders.base import LatentCoder

__all__ = ["StochasticCoder"]


class StochasticCoder(LatentCoder):
    """Sample z ~ Q(z|x) with a seeded generator, push x with P(x|z), push z with P(z).

    Costs ``-log P(x|z) - log P(z)``: the price of the latent is paid in full, which is
    what bits-back coding recovers.
    """

    PLUGIN_NAME = "StochasticCoder"
    ALIASES = ("stochastic", "SC")
    PER_CHAIN = False  # one generator draws every chain's sample

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        io = LaneView.for_step(message, step, active)
        x = self.clean(x, active)
        q = self.posterior(self.posterior_params(x, step))
        rng = np.random.Generator(np.random.PCG64(self.step_seed(step)))
        z = q.ppf(rng.integers(0, 1 << q.prec, size=q.batch_shape))
        z = self.clean(z, active)
        self.push_image(io, x, z)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        return self.pop_image(io)[1]
