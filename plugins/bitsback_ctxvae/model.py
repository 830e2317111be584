"""``ContextVAE``: the paper's VAE with a context-table likelihood, for thresholded scans.

The float model trains and evaluates bounds; coding is portable only
(:class:`PortableContextVAE`): its likelihood pops pixels in raster order through an
integer row program, and a float twin of that program would decode only where the floats
agree, which is what portable arithmetic exists to avoid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from bitsback_core.portable.formats import LOGIT_BITS
from bitsback_ctxvae.context import OFFSETS
from bitsback_ctxvae.network import ContextVAENetwork
from bitsback_vae.model import BinaryVAE, PortableBinaryVAE

__all__ = ["ContextVAE", "PortableContextVAE"]

#: Names the context likelihood's arithmetic; part of every portable context model's identity.
CONTEXT_FORMAT = "bitsback-context-bernoulli-1"


class ContextVAE(BinaryVAE):
    """VAE with N(0, I) prior, Gaussian q(z|x) and the context-table likelihood of :mod:`.network`."""

    PLUGIN_NAME = "ContextVAE"
    NETWORK = ContextVAENetwork

    def likelihood_logits(self, z: np.ndarray) -> np.ndarray:
        raise ValueError(
            "ContextVAE codes in portable arithmetic only (its pixels depend on earlier "
            "pixels); use --arithmetic portable"
        )

    def likelihood(self, z: np.ndarray, prec: int) -> Any:
        return self.likelihood_logits(z)

    def portable(self, version: int | None = None) -> PortableContextVAE:
        """The portable twin: the quantized VAE (network format ``version``, None: the
        newest) plus the context table in ``LOGIT_BITS``."""
        from bitsback_vae.portable import quantize_network

        return PortableContextVAE(quantize_network(self.network, version), self, self._device)


class PortableContextVAE(PortableBinaryVAE):
    """:class:`PortableBinaryVAE` whose likelihood is a :class:`ContextBernoulli`."""

    PLUGIN_NAME = "PortableContextVAE"

    def __init__(self, net: Any, float_model: ContextVAE, device: Any) -> None:
        super().__init__(net, float_model, device)
        network = float_model.network
        if not isinstance(network, ContextVAENetwork):
            raise TypeError(f"a ContextVAENetwork is needed, got {type(network).__name__}")
        logits = network.ctx_logit.detach().cpu().double().numpy()
        if not np.all(np.isfinite(logits)) or np.abs(logits).max(initial=0.0) >= 2.0**20:
            raise ValueError("context logits must be finite and below 2**20 in size")
        # A float32 times a power of two is exact in float64 and rint rounds correctly,
        # so the integers are the same on every machine (as for the network's weights).
        self.table = np.rint(logits * 2.0**LOGIT_BITS).astype(np.int64)
        digest = hashlib.sha256(f"{CONTEXT_FORMAT}\0{self._identity}\0".encode())
        digest.update(np.ascontiguousarray(OFFSETS, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(self.table, dtype="<i8").tobytes())
        self._identity = digest.hexdigest()

    def likelihood(self, z: np.ndarray, prec: int) -> Any:
        from bitsback_ctxvae.distribution import ContextBernoulli

        return ContextBernoulli(self.likelihood_logits(z), self.table, prec)

    def save(self, path: Path | str) -> None:
        """The integer weights and scales, and the context table (``np.savez``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, ctx_logit=self.table, offsets=OFFSETS, **self.net.arrays())
