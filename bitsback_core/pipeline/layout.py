"""The chain layout a config asks for, and the empty message that goes with it.

:class:`~bitsback_core.compression.ChainLayout` is the layout itself; this module is the
policy every command shares for choosing one from a :class:`~bitsback_core.config.Config`
(``run``, ``bench``, ``compress`` and a :class:`~bitsback_core.session.CodingSession` must
agree, or the same settings would cost different total bits in each).
"""

from __future__ import annotations

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout
from bitsback_core.config import Config

__all__ = ["AUTO_LANES", "choose_layout", "new_message"]

#: Lanes per chain when the config leaves ``lanes`` unset: one, the seed's own setting. With
#: the compiled row loops more lanes no longer buy speed (BB-IS(50), one chain, 500 images:
#: 2.0 ms/img at 1 lane and at 32) but cost total bits (0.2800 against 0.2864 bits/dim).
AUTO_LANES = 1


def choose_layout(config: Config, num_items: int) -> ChainLayout:
    """Chains and lanes: the configured ones, or automatic.

    Automatic keeps about 500 images per chain (the seed's setting, so initial bits stay
    small next to the data) and one lane per chain (:data:`AUTO_LANES`): up to 999 images
    that is exactly the seed's sequential coder, and the chains run in parallel on the
    CPU's cores (measured in docs/performance.md).
    """
    chains = config.chains if config.chains is not None else max(1, num_items // 500)
    lanes = config.lanes if config.lanes is not None else AUTO_LANES
    return ChainLayout(num_items, min(chains, num_items), lanes)


def new_message(config: Config, layout: ChainLayout) -> Message:
    """An empty message for ``layout`` with the config's precisions and seed."""
    return Message((layout.chains, layout.lanes), config.lprec, config.bprec, seed=config.seed)
