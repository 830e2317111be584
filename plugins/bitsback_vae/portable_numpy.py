"""A second evaluator of the portable BinaryVAE: plain numpy integers, no torch, no BLAS.

It shares nothing with :class:`bitsback_vae.portable.TorchEvaluator` but the quantized
integers and the tables: products are int64 matrix products (numpy's own loops, exact),
tables are read with :func:`bitsback_core.portable.tables.lookup`. The tests check that
both give the same integers element by element: two implementations agreeing is the
evidence that the float64 products are exact and the arithmetic is portable. Slow (numpy
has no integer BLAS); meant for checks, not for coding. Every network format: a format-2
network's narrow activations are just a smaller ``in_bits``, its products int64 here too.
"""

from __future__ import annotations

import numpy as np

from bitsback_core.portable.formats import ACT_BITS, LATENT_BITS, LOGIT_BITS
from bitsback_core.portable.tables import lookup, table
from bitsback_vae.portable import PortableNetwork, QuantizedLinear

__all__ = ["numpy_decode", "numpy_encode"]


def _accumulate(layer: QuantizedLinear, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64) @ layer.weight.T + layer.bias


def _shift(acc: np.ndarray, from_bits: int, to_bits: int) -> np.ndarray:
    d = from_bits - to_bits
    if d > 0:
        return (acc + (np.int64(1) << np.int64(d - 1))) >> np.int64(d)
    return acc << np.int64(-d)


def _hidden(net: PortableNetwork, name: str, following: str, x: np.ndarray) -> np.ndarray:
    """tanh of layer ``name``, on the input scale of the layer ``following`` it."""
    layer = net.layers[name]
    pre = _shift(_accumulate(layer, x), layer.acc_bits, ACT_BITS)
    return _shift(lookup(table("tanh"), pre, ACT_BITS), ACT_BITS, net.layers[following].in_bits)


def numpy_encode(net: PortableNetwork, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point ``(mean, log_std)`` of binary images ``x`` (``(batch, 784)``)."""
    h = _hidden(net, "enc_fc2", "enc_fc31", _hidden(net, "enc_fc1", "enc_fc2", x))
    out = []
    for name in ("enc_fc31", "enc_fc32"):
        layer = net.layers[name]
        out.append(_shift(_accumulate(layer, h), layer.acc_bits, LATENT_BITS))
    return out[0], out[1]


def numpy_decode(net: PortableNetwork, z: np.ndarray) -> np.ndarray:
    """Fixed-point logits of fixed-point latents ``z`` (``(batch, latent_dim)``)."""
    h = _hidden(net, "dec_fc2", "dec_fc3", _hidden(net, "dec_fc1", "dec_fc2", z))
    layer = net.layers["dec_fc3"]
    return _shift(_accumulate(layer, h), layer.acc_bits, LOGIT_BITS)
