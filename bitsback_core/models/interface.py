"""The latent-variable-model interface: what a coder needs from a model.

The numeric core never touches torch. A model plugin keeps its network behind this
small numpy boundary: images in, Gaussian posterior parameters or observation
distributions out. Everything returned must be a pure function of the inputs *and of
their batch shape*: the encoder and the decoder call these methods with identically
shaped batches, so the floating-point results (and thus the quantized integer
frequencies) agree bit for bit.

Minimal plugin::

    class MyVAE(LatentVariableModel):
        PLUGIN_NAME = "MyVAE"
        latent_dim, obs_dim = 8, 784
        @classmethod
        def from_config(cls, config, checkpoint=None, device="cpu"): ...
        def posterior(self, x): return GaussianParams(mean=..., std=...)
        def likelihood(self, z, prec): return Bernoulli(probs_of_one(z), prec)
        def log_weights(self, x, num_particles, seed): ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["GaussianParams", "LatentVariableModel", "DifferentiableModel"]

_Model = TypeVar("_Model", bound="LatentVariableModel")


@attrs.frozen
class GaussianParams:
    """Diagonal Gaussian parameters, float64 arrays of shape ``(batch, latent_dim)``."""

    mean: np.ndarray
    std: np.ndarray

    def __getitem__(self, key: Any) -> GaussianParams:
        return GaussianParams(mean=self.mean[key], std=self.std[key])

    def tile(self, repeats: int) -> GaussianParams:
        """The parameters repeated ``repeats`` times along the latent axis."""
        return GaussianParams(np.tile(self.mean, (1, repeats)), np.tile(self.std, (1, repeats)))


class LatentVariableModel(ABC):
    """A model p(x, z) = p(z) p(x|z) with a standard-normal prior and an amortized q(z|x).

    Observations are flat integer arrays ``(batch, obs_dim)`` with symbols
    ``0 .. num_obs_symbols - 1``; latents are float arrays ``(batch, latent_dim)``.
    """

    PLUGIN_NAME: ClassVar[str]
    #: Extra registry names (short aliases).
    ALIASES: ClassVar[tuple[str, ...]] = ()

    latent_dim: int
    obs_dim: int
    num_obs_symbols: int = 2
    #: "float" (probabilities from float arithmetic: decode only where it gives the same
    #: results) or "portable" (integer arithmetic: decodes on every machine).
    arithmetic: ClassVar[str] = "float"
    #: Portable model formats :meth:`portable` builds, oldest first; the last is the
    #: default. A file's header records which one coded it (1 or 2), so a model that adds
    #: a faster format keeps decoding the files of its older ones.
    PORTABLE_FORMATS: ClassVar[tuple[int, ...]] = (1,)
    #: A portable model's format (one of its float model's ``PORTABLE_FORMATS``).
    portable_format: int = 1

    def portable(self, version: int | None = None) -> LatentVariableModel:
        """This model in portable arithmetic (see ``docs/design.md``, "Portability").

        The result's ``posterior`` returns
        :class:`~bitsback_core.distributions.fixed_gaussian.FixedGaussianParams`, its
        ``likelihood`` takes fixed-point latents (int64, ``LATENT_BITS``), and
        :meth:`identity` names its integers. ``version``: one of ``PORTABLE_FORMATS``
        (None: the newest). Models that cannot offer it keep this default.
        """
        raise NotImplementedError(
            f"model {type(self).__name__} has no portable arithmetic; use arithmetic 'float'"
        )

    def identity(self) -> str | None:
        """A digest of everything the model's coding probabilities depend on (portable models)."""
        return None

    @classmethod
    @abstractmethod
    def from_config(
        cls: type[_Model],
        config: Mapping[str, Any],
        checkpoint: Path | None = None,
        device: str = "cpu",
    ) -> _Model:
        """Build the model from config values (e.g. ``latent_dim``), loading ``checkpoint``.

        Typed to return ``cls``'s own type, so that a caller holding a subclass (the trainer
        with a :class:`DifferentiableModel`) keeps it."""

    @abstractmethod
    def posterior(self, x: np.ndarray) -> GaussianParams:
        """Amortized posterior q(z|x) for a batch of observations."""

    @abstractmethod
    def likelihood(self, z: np.ndarray, prec: int) -> QuantizedDistribution:
        """Quantized p(x|z) with batch shape ``(batch, obs_dim)`` at precision ``prec``."""

    @abstractmethod
    def log_weights(self, x: np.ndarray, num_particles: int, seed: int) -> np.ndarray:
        """Continuous log importance weights log p(x,z_k) - log q(z_k|x), in nats.

        Shape ``(num_particles, batch)``, z_k ~ q(z|x) drawn with ``seed``. The negative
        ELBO is ``-mean`` over particles; the IWAE bound uses ``logsumexp - log K``.
        """

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the model weights (a plain state dict) to ``path``."""


class DifferentiableModel(LatentVariableModel):
    """A model whose ELBO can be differentiated w.r.t. the posterior parameters.

    Iterative inference (amortized-iterative posterior improvement) needs it. The methods
    take and return ``torch`` tensors; only plugins import torch.
    """

    @abstractmethod
    def torch_posterior(self, x: Any) -> tuple[Any, Any]:
        """Return ``(mean, log_std)`` tensors of q(z|x) for a float tensor batch ``x``."""

    @abstractmethod
    def torch_log_likelihood(self, x: Any, z: Any) -> Any:
        """Return log p(x|z) summed over observation dims, shape ``z.shape[:-1]``."""

    @property
    @abstractmethod
    def device(self) -> str:
        """The torch device the network lives on (``"cpu"`` or ``"cuda:N"``)."""

    # ----- training (bitsback_core.training) -----

    @abstractmethod
    def torch_module(self) -> Any:
        """The trainable ``torch.nn.Module`` whose parameters the optimizer updates.

        The trainer wraps it (e.g. in ``DistributedDataParallel``), saves and restores its
        state dict, so it must hold every weight :meth:`torch_loss` depends on.
        """

    @abstractmethod
    def torch_loss(
        self, x: Any, bound: str, num_particles: int, generator: Any | None = None
    ) -> Any:
        """Mean negative ``bound`` ("ELBO" or "IWAE") in nats per image, differentiable.

        ``x`` is a float tensor ``(batch, obs_dim)`` of observations on :attr:`device`;
        the reparameterization noise comes from ``generator`` (a ``torch.Generator``,
        default torch's global RNG), so a seeded generator gives a reproducible loss.
        """

    def initialize_from_data(self, mean_image: np.ndarray) -> None:
        """Adapt freshly initialized weights to the training data before training.

        ``mean_image`` is the per-dimension training-set mean of the observations scaled
        to [0, 1], shape ``(obs_dim,)``. The default does nothing; a Bernoulli decoder
        typically sets its output bias to the logit of it, which starts training at the
        data's marginal instead of at p = 0.5 everywhere.
        """
