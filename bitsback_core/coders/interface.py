"""The coder interface: how one image per chain is pushed onto / popped off a message.

A coder composes a proposal, a discretizer and a model into a push/pop pair over an
:class:`~bitsback_core.ans.message.Message`. ``encode`` and ``decode`` handle one image
per chain (a batch of shape ``(chains, obs_dim)``); the driver in
:mod:`bitsback_core.pipeline` calls them step after step. ``decode`` is the exact inverse
of ``encode``: afterwards the message is bit-identical to what it was before ``encode``.

Minimal plugin (no bits back)::

    class Stochastic(Coder):
        PLUGIN_NAME = "StochasticCoder"
        def encode(self, message, x, step, active=None):
            z = ...  # sample z ~ q(z|x) with a seed derived from step
            push(message, self.model.likelihood(self.discretizer.values(z), self.cond_mprec), x)
            push(message, self.discretizer.prior(z.shape), z)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from bitsback_core.ans.message import Message
from bitsback_core.discretizers.interface import Discretizer
from bitsback_core.models.interface import LatentVariableModel
from bitsback_core.proposals.interface import Proposal

__all__ = ["Coder"]


class Coder(ABC):
    """Codes one observation per chain onto an rANS message with a latent-variable model.

    ``active`` (bool, shape ``(chains,)``) marks the chains that hold an image at this
    step; inactive chains are left untouched. It is a function of the dataset layout, so
    the decoder passes exactly the same mask.
    """

    PLUGIN_NAME: ClassVar[str]
    ALIASES: ClassVar[tuple[str, ...]] = ()
    #: Whether everything this coder computes for a chain depends only on that chain's
    #: images and lanes (no generator or reduction spans the batch). False unless a coder
    #: says so; see :attr:`chains_independent`.
    PER_CHAIN: ClassVar[bool] = False

    def __init__(
        self,
        model: LatentVariableModel,
        proposal: Proposal,
        discretizer: Discretizer,
        *,
        num_particles: int = 1,
        prop_mprec: int = 16,
        cond_mprec: int = 16,
        seed: int = 0,
    ) -> None:
        if num_particles < 1:
            raise ValueError(f"num_particles must be >= 1, got {num_particles}")
        self.model = model
        self.proposal = proposal
        self.discretizer = discretizer
        self.num_particles = num_particles
        self.prop_mprec = prop_mprec
        self.cond_mprec = cond_mprec
        self.seed = seed

    @property
    def chains_independent(self) -> bool:
        """Whether groups of chains may be coded apart (on threads) and give the same bytes.

        Needs a per-chain coder and proposal, and portable arithmetic: float results may
        depend on the batch's size, integer ones may not (``docs/design.md``, "Portability").
        """
        portable = getattr(self.model, "arithmetic", "float") == "portable"
        return self.PER_CHAIN and self.proposal.PER_ROW and portable

    @abstractmethod
    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        """Push ``x`` (int array ``(chains, obs_dim)``) onto ``message`` in place."""

    @abstractmethod
    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        """Pop and return the images pushed by ``encode`` at the same ``step``."""
