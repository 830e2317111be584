"""BitsBackCoder (BB-ELBO): one latent, its bits taken back from the message."""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import pop_symbols, push_symbols
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

    def encode(self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None) -> None:
        x = self.clean(x, active)
        q = self.posterior(self.posterior_params(x, step))
        z = self.clean(pop_symbols(message, q, active), active)
        push_symbols(message, self.likelihood(z), x, active)
        push_symbols(message, self.prior(z.shape), z, active)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        chains = message.shape[0]
        z = self.clean(pop_symbols(message, self.prior((chains, self.model.latent_dim)), active), active)
        x = self.clean(pop_symbols(message, self.likelihood(z), active), active)
        q = self.posterior(self.posterior_params(x, step))
        push_symbols(message, q, z, active)
        return x
