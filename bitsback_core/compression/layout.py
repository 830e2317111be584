"""How a dataset is spread over chains: item ``i`` is image ``i // chains`` of chain ``i % chains``.

Interleaving keeps every step's images contiguous in the dataset (step ``t`` codes items
``t * chains .. t * chains + chains - 1``), so a stream of images can be coded in order and
in chunks. Only the last step can be partial; its ``active`` mask says which chains take part.
"""

from __future__ import annotations

import attrs
import numpy as np

__all__ = ["ChainLayout"]


@attrs.frozen
class ChainLayout:
    """``num_items`` images over ``chains`` chains, ``lanes`` lanes each."""

    num_items: int = attrs.field(validator=attrs.validators.ge(1))
    chains: int = attrs.field(validator=attrs.validators.ge(1))
    lanes: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.chains > self.num_items:
            raise ValueError(
                f"{self.chains} chains for {self.num_items} images: use at most one chain per image"
            )

    @property
    def num_steps(self) -> int:
        return -(-self.num_items // self.chains)

    def items(self, step: int) -> slice:
        """The dataset rows coded at ``step`` (one per active chain, in chain order)."""
        lo = step * self.chains
        return slice(lo, min(lo + self.chains, self.num_items))

    def active(self, step: int) -> np.ndarray | None:
        """Mask of chains holding an image at ``step``; ``None`` when all do."""
        sl = self.items(step)
        used = sl.stop - sl.start
        if used == self.chains:
            return None
        return np.arange(self.chains) < used
