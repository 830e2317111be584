"""Shared plumbing of the latent-variable coders: seeds, quantized factors, exact weights.

Every probability a coder uses comes from here, computed from batches whose shapes depend
only on ``(chains, num_particles, dims)``, never on which side (encoder or decoder) asks.
That is what makes decoding bit-exact: the seed's ``--batch_compute`` hazard (particles
batched at encode time but not at decode time) cannot occur, because the likelihood that
codes ``x`` is always evaluated on the ``(chains, latent_dim)`` batch of the chosen
particle, and the importance weights always on the ``(chains * N, latent_dim)`` batch.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.ans.codec import LaneView
from bitsback_core.coders.interface import Coder
from bitsback_core.distributions import Categorical, QuantizedDistribution
from bitsback_core.models.interface import GaussianParams
from bitsback_core.portable.formats import LOG2_BITS
from bitsback_core.portable.kernels import LOG2_OF_ZERO, exp2_weights, sum_log2_of

__all__ = ["LatentCoder"]


class LatentCoder(Coder):
    """Helpers for coders of one image per chain with a discretized latent."""

    #: Precision of the particle-index distributions (BB-IS and BB-CIS).
    index_mprec: int = 16
    #: Per chain: every pop, push and weight is a chain's own (StochasticCoder is not: it
    #: draws the whole batch's samples from one generator).
    PER_CHAIN = True

    def step_seed(self, step: int) -> int:
        """A seed for image ``step`` of every chain, shared by encoder and decoder."""
        return int(np.random.SeedSequence([self.seed, step]).generate_state(1)[0])

    @staticmethod
    def clean(a: np.ndarray, active: np.ndarray | None) -> np.ndarray:
        """Zero the rows of inactive chains, so both sides feed the network the same batch."""
        if active is None:
            return a
        out = np.array(a, copy=True)
        out[~np.asarray(active, bool)] = 0
        return out

    def posterior_params(self, x: np.ndarray, step: int) -> GaussianParams:
        return self.proposal(x, seed=self.step_seed(step))

    def posterior(self, params: GaussianParams, repeats: int = 1) -> QuantizedDistribution:
        """q(z|x) over bucket indices, tiled ``repeats`` times along the latent axis."""
        return self.discretizer.posterior(params.tile(repeats) if repeats != 1 else params)

    def likelihood(self, z: np.ndarray) -> QuantizedDistribution:
        """Quantized p(x|z) for bucket indices ``z`` of shape ``(batch, latent_dim)``."""
        return self.model.likelihood(self.discretizer.values(z), self.cond_mprec)

    def prior(self, shape: tuple[int, int]) -> QuantizedDistribution:
        return self.discretizer.prior(shape)

    def push_image(self, io: LaneView, x: np.ndarray, z: np.ndarray) -> None:
        """The tail every coder shares: push x ~ P(x|z), then z ~ P(z)."""
        io.push(self.likelihood(z), x)
        io.push(self.prior(z.shape), z)

    def pop_image(self, io: LaneView) -> tuple[np.ndarray, np.ndarray]:
        """Its inverse, where decoding starts: pop z ~ P(z), then x ~ P(x|z)."""
        chains = io.message.shape[0]
        z = self.clean(io.pop(self.prior((chains, self.model.latent_dim))), io.active)
        x = self.clean(io.pop(self.likelihood(z)), io.active)
        return z, x

    def log_weights(
        self,
        x: np.ndarray,
        zs: np.ndarray,
        params: GaussianParams,
        q_freq: np.ndarray | None = None,
    ) -> np.ndarray:
        """Exact base-2 log importance weights of the *quantized* model, shape ``(chains, N)``.

        ``log2 P(x|z_n) + log2 P(z_n) - log2 Q(z_n|x)`` as int64 with ``LOG2_BITS``
        fraction bits: a fixed-point ``log2`` of every integer frequency, summed in
        integers, so the encoder and the decoder get identical weights on any machine and
        the coded rate matches them. ``q_freq`` (``(chains, N, dims)``): the particles'
        Q frequencies when the caller already has them from popping.
        """
        chains, n, dims = zs.shape
        flat = zs.reshape(chains * n, dims)
        likelihood = self.likelihood(flat)
        log_px = likelihood.sum_log2_rows(x, repeat=n).reshape(chains, n)
        prior = self.prior((chains * n, dims))
        log_pz = prior.sum_log2_rows(flat).reshape(chains, n)
        if q_freq is None:
            q_freq = (
                self.posterior(params, repeats=n)
                .cdf(zs.reshape(chains, n * dims))[1]
                .reshape(chains, n, dims)
            )
        q_prec = self.discretizer.posterior(params[:1, :1]).prec
        # Placeholder particles of inactive chains may sit outside Q's support (log 0);
        # index_distribution discards their weights.
        log_qz = sum_log2_of(q_freq, q_prec)
        offset = (likelihood.prec * x.shape[1] + prior.prec * dims - q_prec * dims) << LOG2_BITS
        return log_px + log_pz - log_qz - offset

    def index_distribution(self, log2_w: np.ndarray, active: np.ndarray | None) -> Categorical:
        """Categorical over particle indices with probabilities ``2**log2_w`` (normalized).

        Integer weights (:func:`~bitsback_core.portable.kernels.exp2_weights`) quantized in
        integers, batch ``(chains, 1)``. Inactive chains hold placeholder particles; they
        get uniform weights (their symbols are never coded).
        """
        log2_w = self.clean(log2_w, active)
        if np.any(log2_w > -LOG2_OF_ZERO // 2):
            raise ValueError(
                "non-finite importance weight: a particle outside the posterior's support"
            )
        return Categorical.from_weights(exp2_weights(log2_w)[:, None, :], self.index_mprec)

    @staticmethod
    def take_particle(zs: np.ndarray, j: np.ndarray) -> np.ndarray:
        """``zs[c, j[c]]`` for every chain: ``(chains, N, dims) -> (chains, dims)``."""
        return zs[np.arange(zs.shape[0]), j]
