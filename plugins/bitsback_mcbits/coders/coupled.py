"""CISBitsBackCoder (BB-CIS): N coupled particles from a single uniform draw.

BB-IS pops N independent particles, so its initial bits grow with N. Here one uniform
cumulative frequency ``u`` per latent dimension is popped, and particle ``n`` is the
bucket holding ``(u + s_n) mod 2**prec``, with fixed seeded shifts ``s_n`` (a bijection
of ``u`` for every ``n``). Each particle is still distributed as Q, but the initial cost
is that of one uniform, whatever N is.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.distributions import Uniform
from bitsback_core.models.interface import GaussianParams
from bitsback_mcbits.coders.base import LatentCoder

__all__ = ["CISBitsBackCoder"]


class CISBitsBackCoder(LatentCoder):
    """Coupled bits-back importance sampling.

    ::

        encode x:  pop u ~ Uniform(2**p)          | z_n = Q^-1((u + s_n) mod 2**p)
                   pop j ~ w_j / sum(w)           | swap: push c_j = (u + s_j) mod 2**p
                   (width 1), pop z_j ~ Q: net cost log2 freq(z_j), element by element
                   push j ~ Uniform(N)
                   push x ~ P(x|z_j)              | push z_j ~ P(z)
        decode:    the same steps backwards
    """

    PLUGIN_NAME = "CISBitsBackCoder"
    ALIASES = ("BB-CIS", "cis")
    #: Particles when the user sets none (`bitsback run`): the paper's tables code with 50.
    DEFAULT_PARTICLES = 50

    def _shifts(self, prec: int) -> np.ndarray:
        """Fixed per-particle shifts ``(N, dims)``; particle 0 is unshifted."""
        rng = np.random.Generator(np.random.PCG64([self.seed, 0xC15]))
        shifts = rng.integers(0, 1 << prec, size=(self.num_particles, self.model.latent_dim))
        shifts[0] = 0
        return shifts

    def _particles(
        self, u: np.ndarray, params: GaussianParams
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cumulative frequencies ``(chains, N, dims)``, their buckets and the buckets' Q freqs."""
        n, dims = self.num_particles, self.model.latent_dim
        q_all = self.posterior(params, n)
        cum = (u[:, None, :] + self._shifts(q_all.prec)[None]) % (1 << q_all.prec)
        zs, _, freq = q_all.ppf_interval(cum.reshape(u.shape[0], n * dims))
        shape = (u.shape[0], n, dims)
        return cum, zs.reshape(shape), freq.reshape(shape)

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        io = LaneView.for_step(message, step, active)
        x = self.clean(x, active)
        chains, dims, n = x.shape[0], self.model.latent_dim, self.num_particles
        params = self.posterior_params(x, step)
        q = self.posterior(params)
        width_one = Uniform(1 << q.prec, q.prec, (chains, dims))
        u = self.clean(io.pop(width_one), active)
        cum, zs, freq = self._particles(u, params)
        zs = self.clean(zs, active)
        index = self.index_distribution(self.log_weights(x, zs, params, freq), active)
        j = self.clean(io.pop(index)[:, 0], active)
        z = self.clean(io.swap(width_one, self.take_particle(cum, j), q), active)
        if not np.array_equal(z, self.clean(self.take_particle(zs, j), active)):
            raise AssertionError(
                "CIS: popped particle differs from the chosen one (inconsistent posterior)"
            )
        io.push(Uniform(n, self.index_mprec, (chains, 1)), j[:, None])
        self.push_image(io, x, z)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        chains, dims, n = message.shape[0], self.model.latent_dim, self.num_particles
        z, x = self.pop_image(io)
        j = self.clean(io.pop(Uniform(n, self.index_mprec, (chains, 1)))[:, 0], active)
        params = self.posterior_params(x, step)
        q = self.posterior(params)
        width_one = Uniform(1 << q.prec, q.prec, (chains, dims))
        c_j = io.swap(q, z, width_one, reverse=True)
        u = self.clean((c_j - self._shifts(q.prec)[j]) % (1 << q.prec), active)
        _, zs, freq = self._particles(u, params)
        zs = self.clean(zs, active)
        index = self.index_distribution(self.log_weights(x, zs, params, freq), active)
        io.push(index, j[:, None])
        io.push(width_one, u)
        return x
