"""Registers the coders and the max-entropy discretizer with bitsback's registry."""

from __future__ import annotations

from typing import Callable

import pluggy

hookimpl = pluggy.HookimplMarker("bitsback")


@hookimpl
def bitsback_register_coders(register: Callable[[type], None]) -> None:
    from bitsback_mcbits.coders import (
        BitsBackCoder,
        CISBitsBackCoder,
        ISBitsBackCoder,
        StochasticCoder,
    )

    for cls in (StochasticCoder, BitsBackCoder, ISBitsBackCoder, CISBitsBackCoder):
        register(cls)


@hookimpl
def bitsback_register_discretizers(register: Callable[[type], None]) -> None:
    from bitsback_mcbits.discretizer import MaxEntropyDiscretizer

    register(MaxEntropyDiscretizer)
