"""``BinaryVAE``: the paper's VAE behind the core's numpy model interface.

Coders only see numpy: float64 posterior parameters, float64 Bernoulli probabilities and
float64 log weights. The network itself runs in float32 on ``device``; results are moved to
the CPU and widened with ``.double()``. Every method is a pure function of its inputs and
their batch shape (no content-dependent batching, noise drawn from explicitly seeded CPU
generators), which is what lets the decoder rebuild the encoder's distributions bit for bit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bitsback_core.models.interface import DifferentiableModel, GaussianParams, LatentVariableModel
from bitsback_vae.network import DEFAULT_LATENT_DIM, OBS_DIM, BinaryVAENetwork

__all__ = [
    "BinaryVAE",
    "PortableBinaryVAE",
    "CheckpointError",
    "CODING_THREADS",
    "coding_threads",
    "load_checkpoint",
]

#: Intra-op CPU threads for every computation whose floats become coding probabilities.
#: torch's CPU kernels split work by thread count and the float results differ (by ~1e-6)
#: between counts, which would change quantized frequencies between an encoder and a
#: decoder on differently sized machines. One fixed count makes them agree; two threads
#: (not one) because the weights' batches are large: BB-IS(50) decodes about 15% faster.
CODING_THREADS = 2


@contextlib.contextmanager
def coding_threads() -> Iterator[None]:
    """Run the enclosed torch work with :data:`CODING_THREADS` intra-op threads."""
    before = torch.get_num_threads()
    # Always set: get_num_threads() reports OpenMP's count, which numba's OpenMP pool
    # changes without changing MKL's, so "already CODING_THREADS" may be untrue for MKL.
    torch.set_num_threads(CODING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_MAX_SEED = 2**64


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not match the network."""


def _config_value(config: Any, key: str) -> Any:
    """Read ``key`` from a mapping or an attribute-style config object."""
    if isinstance(config, Mapping):
        if key in config:
            return config[key]
    elif hasattr(config, key):
        return getattr(config, key)
    raise ValueError(f"BinaryVAE config needs {key!r} (got {type(config).__name__} without it)")


def _resolve_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid torch device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def load_checkpoint(network: BinaryVAENetwork, path: Path | str) -> None:
    """Load a plain state dict from ``path`` into ``network`` (strictly, safely).

    ``weights_only=True`` refuses arbitrary pickled objects, so a checkpoint cannot run
    code. Mismatches are reported by key before torch's own (less readable) check runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"checkpoint {path} is not a plain state dict (mapping of names to tensors)"
        )
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    wrong_shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if state[k].shape != expected[k].shape
    ]
    if wrong_shapes:
        problems.append("wrong shapes [" + "; ".join(wrong_shapes) + "]")
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not match BinaryVAE(latent_dim={network.latent_dim}): "
            + ", ".join(problems)
        )
    network.load_state_dict(state, strict=True)


class BinaryVAE(DifferentiableModel):
    """VAE with a N(0, I) prior, diagonal-Gaussian q(z|x) and a factorized Bernoulli p(x|z)."""

    PLUGIN_NAME = "BinaryVAE"
    #: :data:`bitsback_vae.portable.PORTABLE_FORMATS` (not imported: that module loads numba).
    PORTABLE_FORMATS = (1, 2)
    obs_dim = OBS_DIM
    num_obs_symbols = 2
    #: The network class :meth:`from_config` builds (subclasses of the model swap it).
    NETWORK: type[BinaryVAENetwork] = BinaryVAENetwork

    def __init__(self, network: BinaryVAENetwork, device: str | torch.device = "cpu") -> None:
        self._device = _resolve_device(device)
        self.network = network.to(self._device)
        self.latent_dim = network.latent_dim

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | Any,
        checkpoint: Path | str | None = None,
        device: str = "cpu",
    ) -> BinaryVAE:
        """Build from ``config["latent_dim"]`` (mapping or attribute access).

        Without a checkpoint the weights are torch's default random initialization
        (seed torch globally for reproducible training).
        """
        latent_dim = _config_value(config, "latent_dim")
        if latent_dim is None:
            latent_dim = DEFAULT_LATENT_DIM
        if isinstance(latent_dim, np.integer):
            latent_dim = int(latent_dim)
        network = cls.NETWORK(latent_dim=latent_dim)
        if checkpoint is not None:
            load_checkpoint(network, checkpoint)
        return cls(network, device=device)

    # ------------------------------------------------------------------ helpers

    @property
    def device(self) -> str:
        return str(self._device)

    def _obs_tensor(self, x: np.ndarray) -> torch.Tensor:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(f"observations must have shape (batch, {self.obs_dim}), got {x.shape}")
        if not np.all((x == 0) | (x == 1)):
            raise ValueError("BinaryVAE observations must be binary (0 or 1)")
        return torch.as_tensor(x.astype(np.float32), device=self._device)

    def _latent_array(self, z: np.ndarray, name: str = "z") -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{name} must have shape (batch, {self.latent_dim}), got {z.shape}")
        if not np.all(np.isfinite(z)):
            raise ValueError(f"{name} must be finite")
        return z

    @staticmethod
    def _to_numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().double().numpy()

    # ----------------------------------------------------------- numpy boundary

    def posterior(self, x: np.ndarray) -> GaussianParams:
        """Amortized q(z|x): float64 ``mean`` and ``std`` of shape ``(batch, latent_dim)``."""
        xt = self._obs_tensor(x)
        with torch.no_grad(), coding_threads():
            mean, log_std = self.network.encode(xt)
            std = torch.exp(log_std)
        return GaussianParams(mean=self._to_numpy(mean), std=self._to_numpy(std))

    def likelihood_probs(self, z: np.ndarray) -> np.ndarray:
        """Probabilities of a one, float64 ``(batch, 784)``.

        The logits come from the float32 network; the sigmoid is taken in float64 on the
        CPU so that confident pixels keep their small complementary probability.
        """
        logits = self.likelihood_logits(z).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))

    def likelihood_logits(self, z: np.ndarray) -> np.ndarray:
        """Float32 logits of p(x|z), ``(batch, 784)``, computed with the coding threads."""
        z = self._latent_array(z)
        zt = torch.as_tensor(z.astype(np.float32), device=self._device)
        with torch.no_grad(), coding_threads():
            return self.network.decode(zt).detach().cpu().numpy()

    def likelihood(self, z: np.ndarray, prec: int) -> Any:
        """Quantized p(x|z): a :class:`~bitsback_core.distributions.bernoulli.Bernoulli`.

        The sigmoid is taken in float64 by numpy (``Bernoulli.from_logits``), so confident
        pixels keep their small complementary probability and the result does not depend
        on torch's kernels.
        """
        from bitsback_core.distributions.bernoulli import Bernoulli

        return Bernoulli.from_logits(self.likelihood_logits(z), prec)

    def log_weights(
        self,
        x: np.ndarray,
        num_particles: int,
        seed: int,
        posterior: GaussianParams | None = None,
    ) -> np.ndarray:
        """log p(x, z_k) - log q(z_k|x) in nats, shape ``(num_particles, batch)``.

        The standard-normal noise (shape ``(K, batch, latent_dim)``) is drawn from a CPU
        ``torch.Generator`` seeded with ``seed`` and then moved to the device, so CPU and
        GPU runs use identical noise. ``posterior`` replaces the amortized q(z|x), e.g. by
        the output of an iterative proposal.
        """
        if not isinstance(num_particles, (int, np.integer)) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < _MAX_SEED:
            raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
        xt = self._obs_tensor(x)
        batch = xt.shape[0]
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        eps = torch.randn(
            (int(num_particles), batch, self.latent_dim), generator=gen, dtype=torch.float32
        ).to(self._device)
        with torch.no_grad():
            if posterior is None:
                mean, log_std = self.network.encode(xt)
            else:
                mean_np = self._latent_array(posterior.mean, "posterior.mean")
                std_np = self._latent_array(posterior.std, "posterior.std")
                if mean_np.shape[0] != batch or std_np.shape[0] != batch:
                    raise ValueError("posterior batch size does not match x")
                if np.any(std_np <= 0):
                    raise ValueError("posterior.std must be positive")
                mean = torch.as_tensor(mean_np.astype(np.float32), device=self._device)
                log_std = torch.as_tensor(np.log(std_np).astype(np.float32), device=self._device)
            lw = self.network.log_weights(xt, eps, mean, log_std)
        return self._to_numpy(lw)

    def portable(self, version: int | None = None) -> PortableBinaryVAE:
        """The portable twin of this model (:mod:`bitsback_vae.portable`), quantized
        deterministically in network format ``version`` (None: the newest)."""
        from bitsback_vae.portable import quantize_network

        return PortableBinaryVAE(quantize_network(self.network, version), self, self._device)

    def save(self, path: Path | str) -> None:
        """Write the plain state dict with CPU tensors (loadable with ``weights_only``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        torch.save(state, path)

    # ----------------------------------------------------------- torch boundary

    def torch_posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable ``(mean, log_std)`` for a float tensor batch ``x``."""
        return self.network.encode(x.to(device=self._device, dtype=torch.float32))

    def torch_log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Differentiable log p(x|z) summed over the 784 pixels, shape ``z.shape[:-1]``."""
        x = x.to(device=self._device, dtype=torch.float32)
        return self.network.log_likelihood(x, z.to(self._device))

    # --------------------------------------------------------------- training

    #: Clip for the mean image before taking its logit (the IWAE paper's output bias):
    #: pixels that are never on in the training set would otherwise get an infinite bias.
    BIAS_INIT_CLIP = 1e-3

    def torch_module(self) -> torch.nn.Module:
        """The :class:`~bitsback_vae.network.BinaryVAENetwork` the trainer optimizes."""
        return self.network

    def torch_loss(
        self,
        x: torch.Tensor,
        bound: str,
        num_particles: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Mean negative ELBO / IWAE bound in nats per image (:func:`bitsback_vae.bounds.loss`)."""
        from bitsback_vae.bounds import loss

        return loss(
            self.network,
            x.to(device=self._device, dtype=torch.float32),
            bound,
            num_particles,
            generator,
        )

    def initialize_from_data(self, mean_image: np.ndarray) -> None:
        """Set the decoder's output bias to ``logit(clip(mean_image, 1e-3, 1 - 1e-3))``.

        With zero hidden contribution the decoder then predicts the training set's
        marginal pixel probabilities, which is how the IWAE paper starts training.
        """
        mean = np.asarray(mean_image, dtype=np.float64)
        if mean.shape != (self.obs_dim,):
            raise ValueError(f"mean_image must have shape ({self.obs_dim},), got {mean.shape}")
        if not np.all(np.isfinite(mean)) or np.any(mean < 0) or np.any(mean > 1):
            raise ValueError("mean_image must hold values in [0, 1]")
        p = np.clip(mean, self.BIAS_INIT_CLIP, 1.0 - self.BIAS_INIT_CLIP)
        bias = np.log(p) - np.log1p(-p)
        with torch.no_grad():
            self.network.dec_fc3.bias.copy_(
                torch.as_tensor(bias, dtype=self.network.dec_fc3.bias.dtype)
            )


class PortableBinaryVAE(LatentVariableModel):
    """A :class:`BinaryVAE` in portable arithmetic: every coding probability is an integer function.

    ``posterior`` returns fixed-point :class:`FixedGaussianParams`, ``likelihood`` takes
    fixed-point bucket centres and returns table-sigmoid coins. ``log_weights`` (continuous
    bounds, for evaluation only) is the float model's.

    ``BITSBACK_PORTABLE_EVALUATOR=numpy`` in the environment runs the network with the
    independent numpy-integer evaluator (:mod:`bitsback_vae.portable_numpy`) instead of
    torch: slow, but it lets anyone check that a file decodes with a second
    implementation of the arithmetic (the portability tests do).
    """

    PLUGIN_NAME = "PortableBinaryVAE"
    PORTABLE_FORMATS = BinaryVAE.PORTABLE_FORMATS
    obs_dim = OBS_DIM
    num_obs_symbols = 2
    arithmetic = "portable"

    def __init__(self, net: Any, float_model: BinaryVAE, device: torch.device) -> None:
        from bitsback_vae.portable import TorchEvaluator

        self.net = net
        self.float_model = float_model
        self.latent_dim = net.latent_dim
        self._device = device
        self._evaluator = TorchEvaluator(net, device)
        self._identity = net.sha256()
        self.portable_format = net.format
        choice = os.environ.get("BITSBACK_PORTABLE_EVALUATOR", "torch")
        if choice not in ("torch", "numpy"):
            raise ValueError(
                f"BITSBACK_PORTABLE_EVALUATOR must be 'torch' or 'numpy', got {choice!r}"
            )
        self._use_numpy = choice == "numpy"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | Any,
        checkpoint: Path | str | None = None,
        device: str = "cpu",
    ) -> PortableBinaryVAE:
        return BinaryVAE.from_config(config, checkpoint, device).portable()

    @property
    def device(self) -> str:
        return str(self._device)

    def identity(self) -> str:
        return self._identity

    def portable(self, version: int | None = None) -> PortableBinaryVAE:
        if version is None or version == self.portable_format:
            return self
        return self.float_model.portable(version)

    def posterior(self, x: np.ndarray) -> Any:
        from bitsback_core.distributions.fixed_gaussian import FixedGaussianParams

        xt = self.float_model._obs_tensor(x).to(torch.int64)
        if self._use_numpy:
            from bitsback_vae.portable_numpy import numpy_encode

            mean_np, log_std_np = numpy_encode(self.net, xt.cpu().numpy())
            return FixedGaussianParams(mean=mean_np, log_std=log_std_np)
        with torch.no_grad():
            mean, log_std = self._evaluator.encode(xt)
        return FixedGaussianParams(mean=mean.cpu().numpy(), log_std=log_std.cpu().numpy())

    def _portable_latents(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or z.dtype.kind not in "iu":
            raise ValueError(
                f"portable latents must be integers of shape (batch, {self.latent_dim}), got {z.dtype} {z.shape}"
            )
        return z.astype(np.int64, copy=False)

    def likelihood_logits(self, z: np.ndarray) -> np.ndarray:
        """Fixed-point logits (int64, ``LOGIT_BITS``) for fixed-point latents (``LATENT_BITS``)."""
        z = self._portable_latents(z)
        if self._use_numpy:
            from bitsback_vae.portable_numpy import numpy_decode

            return numpy_decode(self.net, z)
        with torch.no_grad():
            return self._evaluator.decode(torch.as_tensor(z, device=self._device)).cpu().numpy()

    def likelihood(self, z: np.ndarray, prec: int) -> Any:
        """Portable coins; on the CPU their logits stay in the last product's accumulator
        until a kernel reads them (:meth:`TorchEvaluator.decode_accumulator`): same counts."""
        from bitsback_core.distributions.bernoulli import Bernoulli

        ev = self._evaluator
        if self._use_numpy or not ev.fused or ev.logit_shift < 0:
            return Bernoulli.from_fixed_logits(self.likelihood_logits(z), prec)
        with torch.no_grad():
            acc, shift = ev.decode_accumulator(torch.as_tensor(self._portable_latents(z)))
        return Bernoulli.from_fixed_accumulator(acc, shift, prec)

    def log_weights(self, x: np.ndarray, num_particles: int, seed: int) -> np.ndarray:
        return self.float_model.log_weights(x, num_particles, seed)

    def save(self, path: Path | str) -> None:
        """Write the integer weights and scales (``np.savez``; no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, **self.net.arrays())
