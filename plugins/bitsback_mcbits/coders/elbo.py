"""BitsBackCoder (BB-ELBO): one latent, its bits taken back from the message."""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_mcbits.coders.base import LatentCoder

__all__ = ["BitsBackCoder"]


class BitsBackCoder(LatentCoder):
    """Bits-back with one particle; net rate is the negative ELBO of the quantized model.

    ::

        encode x:  pop z ~ Q(z|x) | push x ~ P(x|z) | push z ~ P(z)
        decode:    pop z ~ P(z)   | pop x ~ P(x|z)  | push z ~ Q(z|x)
    """

    PLUGIN_NAME = "BitsBackCoder"
    ALIASES = ("BB-ELBO", "bb", "elbo")

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        io = LaneView.for_step(message, step, active)
        x = self.clean(x, active)
        q = self.posterior(self.posterior_params(x, step))
        z = self.clean(io.pop(q), active)
        self.push_image(io, x, z)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        z, x = self.pop_image(io)
        q = self.posterior(self.posterior_params(x, step))
        io.push(q, z)
        return x
