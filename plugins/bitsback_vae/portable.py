"""The BinaryVAE in portable arithmetic: integer weights, integer activations, table non-linearities.

A float checkpoint is converted deterministically (:func:`quantize_network`): every weight
becomes ``rint(w * 2**bits)`` (a float32 times a power of two is exact in float64 and
``rint`` is correctly rounded, so the integers are the same on every machine), with the
largest ``bits <= 32`` for which the layer's worst case, ``sum |w_int| * max|input| +
|b_int|`` over any row, stays below ``2**52``. That bound is what makes the matrix products
portable: they run in float64 BLAS (CPU or GPU, any summation order, any blocking, FMA or
not) on integer-valued operands, and every partial sum is an integer below ``2**53``, so
every result is exact. Because tanh bounds every hidden activation by 1 and the network's
inputs are binary pixels or bucket centres, the bound holds for *any* input: no
calibration images are needed and none are used (so no test image can leak in).

Between layers the integer accumulator is rescaled by an arithmetic shift and passed
through the ``tanh`` table (:mod:`bitsback_core.portable.tables`). Outputs: posterior mean
and log std with ``LATENT_BITS`` fraction bits, Bernoulli logits with ``LOGIT_BITS``.

Format 2 (the default since it exists) narrows the decoder's two hidden products, the
bulk of a BB-IS(50) coder's arithmetic (50 decoder passes per image), so that they are
exact in *float32*, which CPUs multiply 2-3x faster than float64: ``tanh`` outputs fed to
``dec_fc2`` and ``dec_fc3`` are rounded to :data:`NARROW_ACT_BITS` fraction bits
(``|h| <= 2**8``) and those layers' weights get the largest ``bits`` whose worst case
stays below ``2**24``. The same argument then makes every float32 partial sum an exact
integer. Everything else is format 1's. Format 1 stays: files written with it keep
decoding with it (a file's header says which format its model used).

Two evaluators compute the same integers: :class:`TorchEvaluator` (float BLAS on the
model's device, used for coding) and :mod:`bitsback_vae.portable_numpy` (plain numpy
integers, no torch, no BLAS), which the tests compare element by element.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
import numpy as np
import torch

from bitsback_core.portable.formats import (
    ACT_BITS,
    EXACT_BOUND,
    LATENT_BITS,
    LOGIT_BITS,
    TABLE_STEP_BITS,
)
from bitsback_core.portable.kernels import rescale_layer, table_args, tanh_layer
from bitsback_core.portable.tables import TABLES_SHA256

__all__ = [
    "ENCODER",
    "DECODER",
    "FLOAT32_EXACT_BOUND",
    "NARROW_ACT_BITS",
    "PORTABLE_FORMATS",
    "PortableNetwork",
    "QuantizedLinear",
    "TorchEvaluator",
    "float32_products_are_ieee",
    "quantize_network",
    "rescale",
]

#: The network formats :func:`quantize_network` builds, oldest first (the last is the default).
PORTABLE_FORMATS = (1, 2)
#: Format 2: fraction bits of the decoder's hidden activations fed to float32 products.
NARROW_ACT_BITS = 8
#: Float32 sums of integers stay exact in any order while every partial sum is below this.
FLOAT32_EXACT_BOUND = 2**24
#: Upper bound (integer units) of |bucket centre| fed to the decoder: 8.0 at LATENT_BITS.
_LATENT_INPUT_BOUND = 8 << LATENT_BITS
_MAX_WEIGHT_BITS = 32
#: Layer order of the encoder and decoder (the paper's attribute names).
ENCODER = ("enc_fc1", "enc_fc2", "enc_fc31", "enc_fc32")
DECODER = ("dec_fc1", "dec_fc2", "dec_fc3")


@attrs.frozen(eq=False)
class QuantizedLinear:
    """``y = x @ weight.T + bias`` in integers; ``x`` has ``in_bits``, ``weight`` ``weight_bits``.

    ``products``: the float type whose products and sums of this layer are exact
    (``"float64"``, or ``"float32"`` for format 2's narrow decoder layers).
    """

    weight: np.ndarray
    bias: np.ndarray
    in_bits: int
    weight_bits: int
    products: str = "float64"

    @property
    def acc_bits(self) -> int:
        """Fraction bits of the accumulator ``x @ weight.T + bias``."""
        return self.in_bits + self.weight_bits


def _quantize_linear(
    layer: torch.nn.Linear, in_bits: int, in_bound: int, products: str = "float64"
) -> QuantizedLinear:
    bound = FLOAT32_EXACT_BOUND if products == "float32" else EXACT_BOUND
    w = layer.weight.detach().cpu().double().numpy()
    b = layer.bias.detach().cpu().double().numpy()
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise ValueError("cannot make a portable model from non-finite weights")
    for bits in range(_MAX_WEIGHT_BITS, -1, -1):
        # A float estimate first: a scale whose worst case reaches 2**60 fails the exact check
        # below anyway, and skipping it keeps that check's int64 arithmetic from wrapping
        # around (large weights at 32 bits would otherwise overflow it and could pass).
        rough = np.abs(w).sum(axis=1) * (2.0**bits * in_bound) + np.abs(b) * 2.0 ** (bits + in_bits)
        if float(rough.max()) >= 2.0**60:
            continue
        w_int = np.rint(w * 2.0**bits).astype(np.int64)
        b_int = np.rint(b * 2.0 ** (bits + in_bits)).astype(np.int64)
        worst = np.abs(w_int).sum(axis=1, dtype=np.int64) * in_bound + np.abs(b_int)
        if int(worst.max()) < bound:
            return QuantizedLinear(w_int, b_int, in_bits, bits, products)
    raise ValueError("weights too large for a portable model")


def rescale(acc: Any, from_bits: int, to_bits: int) -> Any:
    """Fixed point ``acc`` from ``from_bits`` to ``to_bits`` fraction bits (round half up)."""
    if from_bits >= to_bits:
        d = from_bits - to_bits
        return (acc + (1 << (d - 1))) >> d if d else acc
    return acc << (to_bits - from_bits)


@attrs.frozen(eq=False)
class PortableNetwork:
    """The quantized layers of a BinaryVAE network, keyed by the paper's attribute names."""

    layers: dict[str, QuantizedLinear]
    latent_dim: int
    format: int = 1

    def sha256(self) -> str:
        """The model's identity: its format, its tables and every integer, in a fixed order.

        Format 1's digest is exactly what it was before format 2 existed (files record it).
        """
        arithmetic = f"bitsback-portable-vae-{self.format}"
        digest = hashlib.sha256(f"{arithmetic}\0{TABLES_SHA256}\0{self.latent_dim}\0".encode())
        for name in ENCODER + DECODER:
            layer = self.layers[name]
            line = f"{name}\0{layer.weight.shape}\0{layer.in_bits}\0{layer.weight_bits}\0"
            if self.format > 1:
                line += f"{layer.products}\0"
            digest.update(line.encode())
            digest.update(np.ascontiguousarray(layer.weight, dtype="<i8").tobytes())
            digest.update(np.ascontiguousarray(layer.bias, dtype="<i8").tobytes())
        return digest.hexdigest()

    def arrays(self) -> dict[str, np.ndarray]:
        """Every integer array and scale, for saving (``np.savez``)."""
        out: dict[str, np.ndarray] = {
            "latent_dim": np.array(self.latent_dim),
            "format": np.array(self.format),
        }
        for name, layer in self.layers.items():
            out[f"{name}.weight"] = layer.weight
            out[f"{name}.bias"] = layer.bias
            out[f"{name}.bits"] = np.array([layer.in_bits, layer.weight_bits])
            out[f"{name}.float32"] = np.array(layer.products == "float32")
        return out


def check_format(version: int | None) -> int:
    """``version`` (None: the newest) if :func:`quantize_network` builds it, else ValueError."""
    if version is None:
        return PORTABLE_FORMATS[-1]
    if version not in PORTABLE_FORMATS:
        known = ", ".join(map(str, PORTABLE_FORMATS))
        raise ValueError(f"unknown portable model format {version!r}: this release has {known}")
    return int(version)


def quantize_network(network: Any, version: int | None = None) -> PortableNetwork:
    """The portable version of a :class:`~bitsback_vae.network.BinaryVAENetwork` (deterministic).

    ``version``: the network format (module docstring), None for the newest.
    """
    version = check_format(version)
    act = (ACT_BITS, 1 << ACT_BITS, "float64")
    narrow = (NARROW_ACT_BITS, 1 << NARROW_ACT_BITS, "float32") if version >= 2 else act
    plan = {
        "enc_fc1": (0, 1, "float64"),
        "enc_fc2": act,
        "enc_fc31": act,
        "enc_fc32": act,
        "dec_fc1": (LATENT_BITS, _LATENT_INPUT_BOUND, "float64"),
        "dec_fc2": narrow,
        "dec_fc3": narrow,
    }
    layers = {
        name: _quantize_linear(getattr(network, name), *plan[name]) for name in ENCODER + DECODER
    }
    return PortableNetwork(layers, int(network.latent_dim), version)


def float32_products_are_ieee() -> bool:
    """Whether torch computes float32 matrix products in IEEE float32 in this process now:
    the default; a lowered ``torch.set_float32_matmul_precision`` (or oneDNN's
    ``fp32_precision``) allows bfloat16 or TF32 arithmetic, which is not exact on integers."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    matmul = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    return getattr(matmul, "fp32_precision", "none") in ("none", "ieee")


#: The layer each hidden layer feeds (its input scale is the activations' scale).
_NEXT = {"enc_fc1": "enc_fc2", "enc_fc2": "enc_fc31", "dec_fc1": "dec_fc2", "dec_fc2": "dec_fc3"}


class TorchEvaluator:
    """Runs a :class:`PortableNetwork` with torch on ``device``: exact float products, integer rest.

    A layer's products run in the float type its :attr:`QuantizedLinear.products` names on
    the CPU; on other devices always in float64 (exact too, and safe from a GPU library's
    reduced-precision float32 modes). Both give the same integers.
    """

    def __init__(
        self, net: PortableNetwork, device: torch.device, fused: bool | None = None
    ) -> None:
        """``fused``: compiled integer passes between the products (default: on the CPU)."""
        self.net = net
        self.device = device
        self.fused = device.type == "cpu" if fused is None else fused
        if self.fused and device.type != "cpu":
            raise ValueError("the fused integer passes run on the CPU only")
        self._w = {name: self._operands(layer, device) for name, layer in net.layers.items()}
        self._w64: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        values, lo, last = table_args("tanh")
        self._tanh = (torch.tensor(np.array(values), device=device), int(lo), int(last))
        self._tanh_np = (values, lo, last)

    @staticmethod
    def _operands(
        layer: QuantizedLinear, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        narrow = layer.products == "float32" and device.type == "cpu"
        dtype = np.float32 if narrow else np.float64
        return (
            torch.as_tensor(layer.weight.T.astype(dtype), device=device).contiguous(),
            torch.as_tensor(layer.bias.astype(dtype), device=device),
        )

    def _accumulate(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Float accumulator of layer ``name``: exact integers (see the module docstring).

        Float32 products only while this process computes float32 matrix products in
        IEEE float32: ``torch.set_float32_matmul_precision("medium")`` lets oneDNN use
        bfloat16 for them, which would round; the layer then runs in float64 (same integers).
        """
        w, b = self._w[name]
        if w.dtype == torch.float32 and not float32_products_are_ieee():
            w, b = self._wide(name)
        return torch.addmm(b, x.to(w.dtype), w)

    def _wide(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``name``'s operands in float64 (made once, on first need)."""
        if name not in self._w64:
            w, b = self._w[name]
            self._w64[name] = (w.double(), b.double())
        return self._w64[name]

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Integer accumulator of layer ``name`` as int64."""
        return self._accumulate(name, x).to(torch.int64)

    def _output(self, name: str, x: torch.Tensor, bits: int) -> torch.Tensor:
        """An output layer's values with ``bits`` fraction bits (int64)."""
        layer = self.net.layers[name]
        if self.fused:
            acc = self._accumulate(name, x).numpy()
            return torch.from_numpy(rescale_layer(acc, np.int64(layer.acc_bits - bits)))
        return rescale(self._linear(name, x), layer.acc_bits, bits)

    def _lookup(
        self, tab: tuple[torch.Tensor, int, int], x: torch.Tensor, x_bits: int
    ) -> torch.Tensor:
        values, lo, last = tab
        k = x_bits - TABLE_STEP_BITS
        u = torch.clamp(x - (lo << k), 0, last << k)
        i = u >> k
        r = u - (i << k)
        low = values[i]
        return low + (((values[i + 1] - low) * r) >> k)

    def _hidden(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """tanh of layer ``name`` on the next layer's input scale: int64 on a GPU, exact
        floats of the next layer's product type on the CPU.

        On the CPU one compiled integer pass (:func:`~bitsback_core.portable.kernels.tanh_layer`)
        replaces the tensor operations below; both give the same integers (tested).
        """
        layer = self.net.layers[name]
        out_bits = self.net.layers[_NEXT[name]].in_bits
        if self.fused:
            acc = self._accumulate(name, x).numpy()
            out = np.empty(acc.shape, dtype=self._w[_NEXT[name]][0].numpy().dtype)
            d, narrow = np.int64(layer.acc_bits - ACT_BITS), np.int64(ACT_BITS - out_bits)
            return torch.from_numpy(tanh_layer(acc, d, out, narrow, *self._tanh_np))
        pre = rescale(self._linear(name, x), layer.acc_bits, ACT_BITS)
        return rescale(self._lookup(self._tanh, pre, ACT_BITS), ACT_BITS, out_bits)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-point ``(mean, log_std)`` (``LATENT_BITS``) for binary images ``x``."""
        h = self._hidden("enc_fc2", self._hidden("enc_fc1", x))
        return self._output("enc_fc31", h, LATENT_BITS), self._output("enc_fc32", h, LATENT_BITS)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Fixed-point Bernoulli logits (``LOGIT_BITS``) for fixed-point latents ``z`` (``LATENT_BITS``)."""
        h = self._hidden("dec_fc2", self._hidden("dec_fc1", z))
        return self._output("dec_fc3", h, LOGIT_BITS)

    def decode_accumulator(self, z: torch.Tensor) -> tuple[np.ndarray, int]:
        """The logits before their final rescale: ``(acc, shift)`` with ``decode(z) ==
        rescale(acc, LOGIT_BITS + shift, LOGIT_BITS)``; fused (CPU) evaluators only.

        ``acc`` is the last product as floats (exact integers): the Bernoulli kernels
        round it while they read it (``Bernoulli.from_fixed_accumulator``), which saves a
        full pass over the 784 logits of every particle. Only while :attr:`logit_shift` is
        not negative (the kernels round; they do not widen).
        """
        if not self.fused or self.logit_shift < 0:
            raise ValueError(
                "decode_accumulator needs the fused (CPU) evaluator and a last layer with "
                f"at least LOGIT_BITS fraction bits (shift {self.logit_shift})"
            )
        h = self._hidden("dec_fc2", self._hidden("dec_fc1", z))
        return self._accumulate("dec_fc3", h).numpy(), self.logit_shift

    @property
    def logit_shift(self) -> int:
        """Fraction bits of the last product beyond ``LOGIT_BITS`` (negative: fewer)."""
        return self.net.layers["dec_fc3"].acc_bits - LOGIT_BITS
