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

from bitsback_core.compression import ChainLayout, decode_dataset
from bitsback_core.config import Config
from bitsback_core.pipeline.bench import encode_images, load_coder
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry

#: sha256 of ``Message.to_bytes()`` for 12 seeded test images in 2 chains x 3 lanes, per
#: (coder, particles, proposal, portable model format), in portable arithmetic. Recorded
#: with file format 2 (portable arithmetic, counter-based initial bits); the model format
#: 2 pins (float32-exact decoder products) were added when that format became the default.
PINNED = {
    (
        "BitsBackCoder",
        1,
        "amortized",
        1,
    ): "8215ec810a9b38ccc42b13718b0df1ef1378aa047877f7ec5c59841887442c68",
    (
        "ISBitsBackCoder",
        5,
        "amortized",
        1,
    ): "13c9e327577c3c6b236ed3edb03ee40e6551328bba1a2645d815c093eaba3668",
    (
        "CISBitsBackCoder",
        5,
        "amortized",
        1,
    ): "c3a79f7ae7caa88daa7ebcbd1b3273eae1cae0cd7827ffd4f2bbd8a04e83c680",
    (
        "StochasticCoder",
        1,
        "amortized",
        1,
    ): "26f3333cc7d32b88deb338eaefecda7d4a9d3c474537c2f2f1ff473fdbcc9aff",
    (
        "BitsBackCoder",
        1,
        "iterative",
        1,
    ): "5c854d99555f0afb0c0deaf84dfc79e69bf2fa0e7092641ae5296e6c48db3f75",
    (
        "BitsBackCoder",
        1,
        "amortized",
        2,
    ): "36e731c4a7591db4a572f0e1bcb5fd1b476bbf6bcdded12797392c537b3bbdaa",
    (
        "ISBitsBackCoder",
        5,
        "amortized",
        2,
    ): "ef574549a85762cb3b222920eae75745f6ac0b5b0279dd92fcc0d48fa5b9c761",
    (
        "CISBitsBackCoder",
        5,
        "amortized",
        2,
    ): "dac5c2a76e5e33b1dfeea3fd2eb5aea8871389dd3c6ad36bb7d4ca47a7126c18",
    (
        "StochasticCoder",
        1,
        "amortized",
        2,
    ): "cedeeafe680d2f202001228702bc8ff7be66b81abc9c35da66190e70af482292",
    (
        "BitsBackCoder",
        1,
        "iterative",
        2,
    ): "6d3db2c63ed53bb3c75f1bd6529d6477524ab191978a9cf2e896716a26b8d1aa",
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
    data = message.to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    decoded = decode_dataset(
        loaded.coder, type(message).from_bytes(data, strict=True), layout, x.shape[1]
    )
    assert np.array_equal(decoded, x)
    assert digest == PINNED[(coder, num, proposal, version)], (
        f"{coder}({num}, {proposal}, format {version}) now codes to {digest}"
    )
