"""The coders' output is pinned: the same images, model and settings give these exact bytes.

Bit-exactness is what lets a file be decoded later, by another version or on another
machine. Every optimization so far was required to leave the coded bytes unchanged; this
test makes that a check instead of a promise. If it fails, the coding changed: files
written before will no longer decode, so either the change is a bug or it needs a new
message format version (and a note in docs/usage.md). It also fails if this machine's
libm or scipy compute the probabilities differently, which is the portability hazard
``docs/design.md`` names.
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
#: (coder, particles, proposal). Recorded at commit 8880776, and the same at f603777, before
#: the compiled kernels and row loops replaced the numpy coding paths.
PINNED = {
    ("BitsBackCoder", 1, "amortized"): "b08da24590cc69f5e99eaaa14c354586704f045e29daa1323037ea5158f775fb",
    ("ISBitsBackCoder", 5, "amortized"): "68234a45f56fe10b56781c8f24df3a6e3ba8c75b32c2265ab91551b16417b7b0",
    ("CISBitsBackCoder", 5, "amortized"): "57b0459903ed284becba60dab107acb2244c901e6b9e3139e377bec3a73b596c",
    ("StochasticCoder", 1, "amortized"): "cf8b002638684af01dd3267aa2872ffb2e6749f524f93ec571049f2cee35cd1f",
    ("BitsBackCoder", 1, "iterative"): "22e3818403b52261d2af83612bb351bf322d8556550e5d8dc63a89221fbd0954",
}


@pytest.mark.parametrize(("coder", "num", "proposal"), list(PINNED))
def test_coded_bytes_are_pinned(
    make_config: Callable[..., Config], registry: Registry, coder: str, num: int, proposal: str
) -> None:
    extra: dict[str, Any] = {}
    if proposal == "iterative":
        extra = {"iterative_post_improvement": True, "iterative_improvement_steps": 2}
    config = make_config(num=num, coder=coder, num_particles=num, num_compress=12, **extra)
    loaded = load_coder(config, registry)
    x = load_images(config, registry)
    layout = ChainLayout(12, 2, 3)
    message = encode_images(loaded, x, layout)
    data = message.to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    decoded = decode_dataset(loaded.coder, type(message).from_bytes(data, strict=True), layout, x.shape[1])
    assert np.array_equal(decoded, x)
    assert digest == PINNED[(coder, num, proposal)], f"{coder}({num}, {proposal}) now codes to {digest}"
