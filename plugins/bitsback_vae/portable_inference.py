"""Iterative inference in portable arithmetic: Adam on each image's ELBO, in integers.

The seed's ``--iterative_post_improvement`` refines the encoder's q(z|x) by ``steps`` Adam
steps on each image's single-sample negative ELBO
(:class:`bitsback_vae.proposals.IterativeProposal`).
The refined posterior decides the code, so in portable mode every number of the
optimisation must be the same on every IEEE-754 machine, device, BLAS, thread count and
libm. This module runs the same procedure entirely in fixed-point integers:

* **Noise.** ``eps`` is drawn for the whole ``(steps, batch, latent_dim)`` shape, in C
  order, from the raw 64-bit outputs of ``numpy.random.PCG64(seed)`` (``random_raw``: the
  bit generator's own stream, which numpy keeps fixed, unlike ``Generator`` methods). The
  top 32 bits ``u`` become a standard normal by inverting the shipped ``ndtr`` table:
  the grid cell whose CDF entries bracket ``(2u + 1) / 2**33`` is found with integer
  comparisons and the position inside it by integer linear interpolation. This is finer
  than the 256 bucket centres (a continuous-looking normal with tails to about 6.3).
* **Forward.** ``std`` from the ``exp`` table; ``z = clamp(mean + std * eps, +-8)`` (the
  decoder's quantization assumes ``|z| <= 8``); the decoder exactly as
  :class:`~bitsback_vae.portable.TorchEvaluator` computes it (same integers), keeping the
  hidden activations at ``ACT_BITS`` (network format 2 narrows them only as the next
  product's input; ``tanh'`` uses the full ones).
* **Backward.** ``d(-log p)/d logit = sigmoid(logit) - x`` (``sigmoid`` table), then
  through ``dec_fc3``, ``tanh' = 1 - h**2``, ``dec_fc2``, ``tanh'``, ``dec_fc1``. Every
  gradient has :data:`GRAD_BITS` fraction bits; hidden and latent gradients are clamped
  to ``+-2**GRAD_LIMIT_BITS``. The backward products use copies of the weights at fewer
  fraction bits (:func:`backward_weight`) chosen so that ``max column sum |W| * bound <
  2**52``: float64 products and sums on integers that are exact in any order. The clamp
  of ``z`` is passed straight through (the gradient of the unclamped objective at the
  clamped ``z``), so the prior still pulls an out-of-range sample back.
* **Adam** (beta1 = 9/10, beta2 = 999/1000 exactly, as in torch) with integer moments:
  ``m`` at ``GRAD_BITS``, ``v`` at ``2 * GRAD_BITS``; bias corrections are exact
  fractions turned into fixed-point constants; ``sqrt(v)`` is an exact integer square
  root (:func:`isqrt_floor`); the quotient an integer floor division. torch's
  ``eps = 1e-8`` is below the gradient quantum (``2**-20``), so the denominator adds one
  quantum instead: it only keeps the division defined.

Every step is elementwise per image given its noise, so an image's result does not depend
on its neighbours in the batch. The result is a pure function of ``(x, seed, steps, lr)``,
the model's integers and the batch shape. ``tests/plugins/bitsback_vae/test_portable_inference.py``
checks it against an independent numpy-int64 implementation.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from math import isqrt
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bitsback_core.distributions.fixed_gaussian import (
    LOG_STD_RANGE,
    MEAN_LIMIT,
    FixedGaussianParams,
)
from bitsback_core.portable.formats import (
    ACT_BITS,
    EXACT_BOUND,
    LATENT_BITS,
    LOGIT_BITS,
    PROB_BITS,
    TABLE_STEP_BITS,
)
from bitsback_core.portable.tables import table
from bitsback_vae.portable import _LATENT_INPUT_BOUND, DECODER, QuantizedLinear, rescale

if TYPE_CHECKING:
    from bitsback_vae.model import PortableBinaryVAE

__all__ = [
    "BETA1",
    "BETA2",
    "GRAD_BITS",
    "GRAD_LIMIT_BITS",
    "MAX_LR",
    "adam_constants",
    "backward_weight",
    "isqrt_floor",
    "portable_adam",
    "portable_iterative_posterior",
    "portable_noise",
]

#: Fraction bits of every gradient (logit, hidden, latent) and of Adam's first moment.
GRAD_BITS = 20
#: Hidden and latent gradients are clamped to ``+-2**GRAD_LIMIT_BITS`` (the paper's mnist
#: checkpoint reaches about 60 on real images; ``dec_fc3``'s largest column sum is 348).
GRAD_LIMIT_BITS = 10
#: The logit gradient ``sigmoid - x`` is at most 1 in magnitude.
_LOGIT_GRAD_BOUND = 1 << GRAD_BITS
_GRAD_BOUND = 1 << (GRAD_BITS + GRAD_LIMIT_BITS)
BETA1 = Fraction(9, 10)
BETA2 = Fraction(999, 1000)
#: The learning rate is at most this (keeps ``ratio * lr / (1 - beta1)`` below ``2**63``).
MAX_LR = 1.0
#: Fraction bits of ``m / (sqrt(v) + eps)``; clamped to ``+-8`` (Adam's ratio is below
#: ``(1 - b1) / sqrt(1 - b2) / sqrt(1 - b1**2 / b2) < 7.3`` in exact arithmetic).
_RATIO_BITS = 30
_RATIO_LIMIT = 8 << _RATIO_BITS
#: Fraction bits of ``lr / (1 - beta1**t)`` and of ``1 / sqrt(1 - beta2**t)``.
_CONST_BITS = 24
#: ``std * eps`` is clamped to ``+-128`` in the log-std gradient only (beyond ``|mean| + 8
#: <= 72`` the sample is clamped anyway); keeps ``grad * std * eps`` below ``2**57``.
_OFFSET_LIMIT = 128 << LATENT_BITS


def portable_noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal noise, int64 with ``LATENT_BITS`` fraction bits, from integers only.

    ``u`` = top 32 bits of ``PCG64(seed).random_raw``; the result is the inverse of the
    table CDF (linear between grid points) at ``(2u + 1) / 2**33``, found with
    ``searchsorted`` on the integer table and an integer floor division.
    """
    tab = table("ndtr")
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.random.PCG64(int(seed)).random_raw(n) if n else np.zeros(0, np.uint64)
    target = ((raw >> np.uint64(32)).astype(np.int64) << 1) + 1  # (2u + 1) / 2**33
    cdf2 = tab.values[: tab.last + 1] << 1  # cdf2[0] = 0 and cdf2[last] = 2**33 > target
    i = np.searchsorted(cdf2, target, side="right")  # cdf2[i-1] <= target < cdf2[i]
    k = LATENT_BITS - TABLE_STEP_BITS
    inside = ((target - cdf2[i - 1]) << k) // (cdf2[i] - cdf2[i - 1])
    return (((i - 1 + tab.lo_steps) << k) + inside).astype(np.int64).reshape(shape)


def backward_weight(layer: QuantizedLinear, grad_bound: int) -> tuple[np.ndarray, int]:
    """``(W, bits)``: the layer's weight rounded to the most fraction bits that keep the
    backward product ``grad @ W`` exact for ``|grad| <= grad_bound``.

    Each output of ``grad @ W`` sums ``|grad_j| * |W[j, k]|`` over the column ``k``; with
    ``max_k sum_j |W[j, k]| * grad_bound < 2**52`` every product and partial sum is an
    integer below ``2**52``, exact in float64 in any order.
    """
    for shift in range(0, layer.weight_bits + 64):
        w = rescale(layer.weight, layer.weight_bits, layer.weight_bits - shift)
        if int(np.abs(w).sum(axis=0).max()) * grad_bound < EXACT_BOUND:
            return np.ascontiguousarray(w, dtype=np.int64), layer.weight_bits - shift
    raise ValueError("weights too large for portable backpropagation")  # pragma: no cover


@functools.lru_cache(maxsize=4096)
def adam_constants(t: int, lr: float) -> tuple[int, int]:
    """Step ``t``'s ``(round(lr / (1 - b1**t) * 2**C), floor(2**C / sqrt(1 - b2**t)))``, ``C = 24``.

    Exact rationals (``lr`` is a binary fraction, the betas decimal ones) rounded once, so
    the constants are the same integers everywhere.
    """
    bc1 = 1 - BETA1**t
    bc2 = 1 - BETA2**t
    step_size = Fraction(lr) / bc1 * (1 << _CONST_BITS)
    inv_sqrt_bc2 = isqrt((bc2.denominator << (2 * _CONST_BITS)) // bc2.numerator)
    return int(step_size + Fraction(1, 2)), inv_sqrt_bc2  # int() floors a positive Fraction


def isqrt_floor(v: torch.Tensor) -> torch.Tensor:
    """Exact ``floor(sqrt(v))`` of non-negative int64 ``v`` (``v < 2**62``).

    The float64 square root is only a first guess; integer comparisons then correct it
    until ``s**2 <= v < (s + 1)**2``, so the result is exact whatever the sqrt returned.
    """
    s = torch.sqrt(v.to(torch.float64)).to(torch.int64)
    while True:
        up = (s + 1) * (s + 1) <= v
        down = s * s > v
        if not bool((up | down).any()):
            return s
        s = s + up.to(torch.int64) - down.to(torch.int64)


class _Decoder:
    """The decoder's integers on the model's device: forward and backward weights, tables."""

    def __init__(self, model: PortableBinaryVAE) -> None:
        dev = model._device
        self.device = dev
        self.layers: dict[str, QuantizedLinear] = {n: model.net.layers[n] for n in DECODER}
        bounds = {"dec_fc3": _LOGIT_GRAD_BOUND, "dec_fc2": _GRAD_BOUND, "dec_fc1": _GRAD_BOUND}
        self.fwd: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.bwd: dict[str, tuple[torch.Tensor, int]] = {}
        for name, layer in self.layers.items():
            w_t = torch.as_tensor(layer.weight.T.astype(np.float64), device=dev).contiguous()
            self.fwd[name] = (w_t, torch.as_tensor(layer.bias.astype(np.float64), device=dev))
            w_back, bits = backward_weight(layer, bounds[name])
            self.bwd[name] = (torch.as_tensor(w_back.astype(np.float64), device=dev), bits)
        names = ("tanh", "sigmoid", "exp")
        self.tables = {k: torch.as_tensor(np.array(table(k).values), device=dev) for k in names}

    def lookup(self, name: str, x: torch.Tensor, x_bits: int) -> torch.Tensor:
        """:func:`bitsback_core.portable.tables.lookup` on the device."""
        tab = table(name)
        values, k = self.tables[name], x_bits - TABLE_STEP_BITS
        u = torch.clamp(x - (tab.lo_steps << k), 0, tab.last << k)
        i = u >> k
        low = values[i]
        return low + (((values[i + 1] - low) * (u - (i << k))) >> k)

    def linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Integer accumulator ``x @ W.T + b`` (exact: the quantization bounds it by 2**52).

        ``x``: latents for ``dec_fc1``, else activations at ``ACT_BITS``, narrowed here to
        the layer's input scale as the forward network narrows them (network format 2).
        """
        w_t, b = self.fwd[name]
        if name != "dec_fc1":
            x = rescale(x, ACT_BITS, self.layers[name].in_bits)
        return torch.addmm(b, x.to(torch.float64), w_t).to(torch.int64)

    def back(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        """``grad @ W`` at ``GRAD_BITS`` (exact for the bound of :func:`backward_weight`)."""
        w, bits = self.bwd[name]
        acc = (grad.to(torch.float64) @ w).to(torch.int64)
        return rescale(acc, GRAD_BITS + bits, GRAD_BITS)

    def hidden(self, name: str, x: torch.Tensor) -> torch.Tensor:
        layer = self.layers[name]
        pre = rescale(self.linear(name, x), layer.acc_bits, ACT_BITS)
        return self.lookup("tanh", pre, ACT_BITS)


def _tanh_backward(grad: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``grad * (1 - h**2)``: ``|grad| <= 2**30`` and ``1 - h**2 <= 2**32`` keep it below 2**62."""
    one_minus_h2 = (1 << (2 * ACT_BITS)) - h * h
    clamped = torch.clamp(grad, -_GRAD_BOUND, _GRAD_BOUND)
    return rescale(clamped * one_minus_h2, GRAD_BITS + 2 * ACT_BITS, GRAD_BITS)


def _latent_gradient(dec: _Decoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``d/dz [-log p(x|z) + z**2 / 2]`` at ``GRAD_BITS``, clamped to the gradient bound."""
    h1 = dec.hidden("dec_fc1", z)
    h2 = dec.hidden("dec_fc2", h1)
    last = dec.layers["dec_fc3"]
    logits = rescale(dec.linear("dec_fc3", h2), last.acc_bits, LOGIT_BITS)
    probs = dec.lookup("sigmoid", logits, LOGIT_BITS)
    g_logit = rescale(probs - (x << PROB_BITS), PROB_BITS, GRAD_BITS)  # |.| <= 2**GRAD_BITS
    g_pre2 = _tanh_backward(dec.back("dec_fc3", g_logit), h2)  # d/d(dec_fc2's output)
    g_pre1 = _tanh_backward(dec.back("dec_fc2", g_pre2), h1)  # d/d(dec_fc1's output)
    g_z = torch.clamp(dec.back("dec_fc1", g_pre1), -_GRAD_BOUND, _GRAD_BOUND)
    return torch.clamp(g_z + rescale(z, LATENT_BITS, GRAD_BITS), -_GRAD_BOUND, _GRAD_BOUND)


def _gradients(
    dec: _Decoder, x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of ``-(log p(x|z) - z**2/2 + eps**2/2 + log_std)`` w.r.t. mean and log_std.

    ``z = mean + std * eps`` (``std`` from the ``exp`` table, ``std * eps < 2**61``),
    clamped to the decoder's ``+-8``; ``d/d log_std = g_z * std * eps - 1``.
    """
    std = dec.lookup("exp", log_std, LATENT_BITS)
    offset = rescale(std * eps, 2 * LATENT_BITS, LATENT_BITS)
    z = torch.clamp(mean + offset, -_LATENT_INPUT_BOUND, _LATENT_INPUT_BOUND)
    g_z = _latent_gradient(dec, x, z)
    offset = torch.clamp(offset, -_OFFSET_LIMIT, _OFFSET_LIMIT)
    g_log_std = rescale(g_z * offset, GRAD_BITS + LATENT_BITS, GRAD_BITS) - (1 << GRAD_BITS)
    return g_z, torch.clamp(g_log_std, -_GRAD_BOUND, _GRAD_BOUND)


def _floor_div(a: torch.Tensor, b: Any) -> torch.Tensor:
    return torch.div(a, b, rounding_mode="floor")


def _adam_update(
    state: tuple[torch.Tensor, torch.Tensor], grad: torch.Tensor, t: int, lr: float
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One Adam step in integers: returns ``(step at LATENT_BITS, (m, v))``.

    ``m += round((g - m) / 10)``, ``v += round((g**2 - v) / 1000)`` (torch's lerp and
    ``mul(b2).addcmul`` in exact decimal constants; ``|g| <= 2**30`` keeps ``m <= 2**30``,
    ``v <= 2**60``); ``denom = sqrt(v) / sqrt(1 - b2**t) + 1 quantum``; ``step = lr / (1 -
    b1**t) * m / denom``.
    """
    m, v = state
    m = m + _floor_div(grad - m + 5, 10)
    v = v + _floor_div(grad * grad - v + 500, 1000)
    step_size, inv_sqrt_bc2 = adam_constants(t, lr)
    denom = rescale(isqrt_floor(v) * inv_sqrt_bc2, _CONST_BITS, 0) + 1  # < 2**59
    ratio = torch.clamp(_floor_div(m << _RATIO_BITS, denom), -_RATIO_LIMIT, _RATIO_LIMIT)
    step = rescale(ratio * step_size, _RATIO_BITS + _CONST_BITS, LATENT_BITS)  # < 2**61
    return step, (m, v)


def _clamp_params(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The clamps of :mod:`bitsback_core.distributions.fixed_gaussian` (they define the code)."""
    one = 1 << LATENT_BITS
    return (
        torch.clamp(mean, -MEAN_LIMIT * one, MEAN_LIMIT * one),
        torch.clamp(log_std, LOG_STD_RANGE[0] * one, LOG_STD_RANGE[1] * one),
    )


def portable_adam(
    model: PortableBinaryVAE, x: np.ndarray, params: FixedGaussianParams, eps: np.ndarray, lr: float
) -> FixedGaussianParams:
    """``eps.shape[0]`` integer Adam steps from ``params`` with the given noise.

    ``eps``: int64 ``(steps, batch, latent_dim)`` at ``LATENT_BITS`` (:func:`portable_noise`).
    Exposed separately so that tests can hand each image its own slice of the noise.
    """
    if not 0 < lr <= MAX_LR:
        raise ValueError(f"portable iterative inference needs 0 < lr <= {MAX_LR}, got {lr!r}")
    dec = _Decoder(model)
    dev = dec.device
    xt = torch.as_tensor(np.asarray(x, dtype=np.int64), device=dev)
    mean = torch.as_tensor(np.asarray(params.mean, dtype=np.int64), device=dev)
    log_std = torch.as_tensor(np.asarray(params.log_std, dtype=np.int64), device=dev)
    mean, log_std = _clamp_params(mean, log_std)
    noise = torch.as_tensor(np.asarray(eps, dtype=np.int64), device=dev)
    zeros = torch.zeros((2, *mean.shape), dtype=torch.int64, device=dev)
    state = (zeros, zeros)
    with torch.no_grad():
        for t in range(1, noise.shape[0] + 1):
            grad = torch.stack(_gradients(dec, xt, mean, log_std, noise[t - 1]))
            step, state = _adam_update(state, grad, t, lr)
            mean, log_std = _clamp_params(mean - step[0], log_std - step[1])
    return FixedGaussianParams(mean=mean.cpu().numpy(), log_std=log_std.cpu().numpy())


def portable_iterative_posterior(
    model: PortableBinaryVAE, x: np.ndarray, seed: int, steps: int, lr: float
) -> FixedGaussianParams:
    """The portable twin of :class:`~bitsback_vae.proposals.IterativeProposal`.

    Starts from ``model.posterior(x)`` (a :class:`~bitsback_vae.model.PortableBinaryVAE`)
    and takes ``steps`` integer Adam steps on each image's single-sample negative ELBO,
    the noise for all steps drawn at once as ``(steps, batch, latent_dim)`` from ``seed``
    (as the float version draws it). With ``steps == 0`` it is the encoder's posterior.
    """
    start = model.posterior(x)
    if steps == 0:
        return start
    eps = portable_noise(seed, (int(steps), np.asarray(x).shape[0], model.latent_dim))
    return portable_adam(model, x, start, eps, lr)
