"""ISBitsBackCoder (BB-IS): N particles, one chosen by its importance weight.

The net rate approaches the negative IWAE-N bound: the extra particles are decoded from
the message and pushed back, so they cost nothing net, and choosing particle ``j`` with
probability proportional to its weight gets back ``log(sum w / w_j)`` bits.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.distributions import KnownIntervals, Uniform
from bitsback_mcbits.coders.base import LatentCoder

__all__ = ["ISBitsBackCoder"]


class ISBitsBackCoder(LatentCoder):
    """Bits-back importance sampling.

    ::

        encode x:  pop z_1..z_N ~ Q        | pop j ~ w_j / sum(w)
                   push z_n (n != j) ~ Q   | push j ~ Uniform(N)
                   push x ~ P(x|z_j)       | push z_j ~ P(z)
        decode:    the same steps backwards, popping what was pushed and pushing what was popped
    """

    PLUGIN_NAME = "ISBitsBackCoder"
    ALIASES = ("BB-IS", "is")
    #: Particles when the user sets none (`bitsback run`): the paper's tables code with 50.
    DEFAULT_PARTICLES = 50

    def _others(self, zs: np.ndarray, j: np.ndarray) -> np.ndarray:
        """All particles but ``j`` per chain, flattened: ``(chains, (N - 1) * dims)``."""
        chains, n, dims = zs.shape
        keep = np.arange(n)[None, :] != j[:, None]
        return zs[keep].reshape(chains, (n - 1) * dims)

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        io = LaneView.for_step(message, step, active)
        x = self.clean(x, active)
        n, dims = self.num_particles, self.model.latent_dim
        chains = x.shape[0]
        params = self.posterior_params(x, step)
        q_all = self.posterior(params, n)
        zs, start, freq = io.pop_intervals(q_all)
        zs = self.clean(zs, active).reshape(chains, n, dims)
        start, freq = start.reshape(zs.shape), freq.reshape(zs.shape)
        index = self.index_distribution(self.log_weights(x, zs, params, freq), active)
        j = io.pop(index)[:, 0]
        j = self.clean(j, active)
        if n > 1:
            # The other particles go back with exactly the intervals they were popped with.
            others = KnownIntervals(
                self._others(zs, j),
                self._others(start, j),
                self._others(freq, j),
                q_all.prec,
                q_all.num_symbols,
            )
            io.push(others, others.symbols)
        io.push(Uniform(n, self.index_mprec, (chains, 1)), j[:, None])
        z = self.take_particle(zs, j)
        self.push_image(io, x, z)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        n, dims = self.num_particles, self.model.latent_dim
        chains = message.shape[0]
        z, x = self.pop_image(io)
        j = self.clean(io.pop(Uniform(n, self.index_mprec, (chains, 1)))[:, 0], active)
        params = self.posterior_params(x, step)
        q = self.posterior(params)
        parts = np.empty((3, chains, n, dims), dtype=np.int64)  # symbols, starts, freqs
        if n > 1:
            others = io.pop_intervals(self.posterior(params, n - 1))
            keep = np.arange(n)[None, :] != j[:, None]
            for k in range(3):
                parts[k][keep] = others[k].reshape(chains * (n - 1), dims)
        start_j, freq_j = q.cdf(z)
        for k, value in enumerate((z, start_j, freq_j)):
            parts[k][np.arange(chains), j] = value
        zs = self.clean(parts[0], active)
        index = self.index_distribution(self.log_weights(x, zs, params, parts[2]), active)
        io.push(index, j[:, None])
        flat = (chains, n * dims)
        io.push(
            KnownIntervals(
                zs.reshape(flat),
                parts[1].reshape(flat),
                parts[2].reshape(flat),
                q.prec,
                q.num_symbols,
            ),
            zs.reshape(flat),
        )
        return x
