"""The coders' output is pinned: the same images, model and settings give these exact bytes.

Bit-exactness is what lets a file be decoded later, by another version or on another
machine. Every optimization must leave the coded bytes unchanged; this test makes that a
check instead of a promise. If it fails, the coding changed: files written before will no
longer decode, so either the change is a bug or it needs a new format version.

The pins are of portable arithmetic (integers only, ``docs/design.md``, "Portability"), so
they hold on every machine. The float path's bytes are deliberately not pinned: they
depend on the CPU's float results (pins recorded on an Intel Xeon failed on an AMD EPYC).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.config import Config
from bitsback_core.pipeline.bench import encode_images, load_coder
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry

#: sha256 of ``Message.to_frame_bytes()`` for 12 seeded test images in 2 chains x 3 lanes,
#: per (coder, particles, proposal, portable model format), in portable arithmetic. Recorded
#: with file format 2 (portable arithmetic, counter-based initial bits); the model format
#: 2 pins (float32-exact decoder products) were added when that format became the default.
#: Re-pinned when the message's second serialization (``to_bytes``, with its own header and
#: drawn-word counts) was removed, after checking the same messages against the old pins.
PINNED = {
    (
        "BitsBackCoder",
        1,
        "amortized",
        1,
    ): "1c971bdefed496576c46f3ac77bfd7c6700ef23bb61e4d44247ba292f77aa644",
    (
        "ISBitsBackCoder",
        5,
        "amortized",
        1,
    ): "32262e942fe1aad028db64a6da0ff6d3159d277006499ff8716bdb5c8fda3d13",
    (
        "CISBitsBackCoder",
        5,
        "amortized",
        1,
    ): "f9e223b9e3c7a32612ff48fa8235e89d45a07fa395b5b58e95b0f318f0f98ea2",
    (
        "StochasticCoder",
        1,
        "amortized",
        1,
    ): "b55e22445fe53fc330a85030658d7240e366b5b43d1695571f4c077cdcde4577",
    (
        "BitsBackCoder",
        1,
        "iterative",
        1,
    ): "355122d238399179aee933f8e469711641b37b7260ee8c5671ccbfd5f68edd29",
    (
        "BitsBackCoder",
        1,
        "amortized",
        2,
    ): "efb037474fc377d831dd1a51ea0b67409bd854cfa29ccb159f981fadcf29b0b1",
    (
        "ISBitsBackCoder",
        5,
        "amortized",
        2,
    ): "9e1b05b1341224375f484c9761c7a59d25bdc6bca97017313f728de6226c3ea3",
    (
        "CISBitsBackCoder",
        5,
        "amortized",
        2,
    ): "a97f802c3dd74ddda9ab1c0f78ab4799fe2c3869c879db58f1b72747c3533447",
    (
        "StochasticCoder",
        1,
        "amortized",
        2,
    ): "181ea7799fa0a136115b54c002b4fce15bd506faaac9a25b47d08291d3fbf50a",
    (
        "BitsBackCoder",
        1,
        "iterative",
        2,
    ): "4bf0457a0ca66dfa9b8511113a3ddd242bc8fbebf67e7759d964eccdeacb0381",
}


@pytest.mark.parametrize(("coder", "num", "proposal", "version"), list(PINNED))
def test_coded_bytes_are_pinned(
    make_config: Callable[..., Config],
    registry: Registry,
    coder: str,
    num: int,
    proposal: str,
    version: int,
) -> None:
    extra: dict[str, Any] = {}
    if proposal == "iterative":
        extra = {"iterative_post_improvement": True, "iterative_improvement_steps": 2}
    config = make_config(
        num=num, coder=coder, num_particles=num, num_compress=12, arithmetic="portable",
        portable_format=version, **extra,
    )  # fmt: skip
    loaded = load_coder(config, registry)
    x = load_images(config, registry)
    layout = ChainLayout(12, 2, 3)
    message = encode_images(loaded, x, layout)
    digest = hashlib.sha256(message.to_frame_bytes()).hexdigest()
    decoded = decode_dataset(loaded.coder, message.reread(), layout, x.shape[1])
    assert np.array_equal(decoded, x)
    if loaded.coder.chains_independent:  # each chain on a thread of its own: the same bytes
        grouped = encode_dataset(loaded.coder, x, layout, loaded.message(layout), groups=2)
        assert grouped.to_frame_bytes() == message.to_frame_bytes()
        received = grouped.reread()
        assert np.array_equal(decode_dataset(loaded.coder, received, layout, 784, groups=2), x)
    assert digest == PINNED[(coder, num, proposal, version)], (
        f"{coder}({num}, {proposal}, format {version}) now codes to {digest}"
    )
