"""Variational bounds: the "ideal bitrates" a bits-back coder is compared against.

Two entry points:

* :func:`bounds_bpd` evaluates the negative ELBO and the negative IWAE-K bound of a model
  on a numpy dataset in bits per dimension, from the model's log importance weights.
* :func:`loss` is the differentiable training objective (mean negative bound in nats per
  image) used to train the network with the ELBO or the IWAE bound.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch stays a lazy import for callers that only need bounds_bpd
    import torch

    from bitsback_core.models.interface import LatentVariableModel

__all__ = ["BOUNDS", "bounds_bpd", "loss", "nats_to_bpd"]

#: Training bounds :func:`loss` understands.
BOUNDS = ("ELBO", "IWAE")


def nats_to_bpd(nats: np.ndarray | float, obs_dim: int) -> np.ndarray | float:
    """Convert nats per image to bits per dimension."""
    return nats / (obs_dim * math.log(2.0))


def _logmeanexp(log_w: np.ndarray) -> np.ndarray:
    """log(mean(exp(log_w))) over axis 0; exact identity for a single particle."""
    m = log_w.max(axis=0)
    return m + np.log(np.exp(log_w - m).sum(axis=0)) - math.log(log_w.shape[0])


def _batch_seed(seed: int, index: int) -> int:
    """Independent 64-bit seed per batch, so batches do not reuse the same noise."""
    state = np.random.SeedSequence((seed, index)).generate_state(1, dtype=np.uint64)
    return int(state[0])


def bounds_bpd(
    model: LatentVariableModel,
    x: np.ndarray,
    num_particles: int,
    seed: int,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Negative ELBO and negative IWAE-``num_particles`` bound of ``model`` on ``x``.

    Both come from the same ``num_particles`` log weights per image: the ELBO estimate is
    their mean, the IWAE bound their log-mean-exp. Returns a dict with ``elbo_bpd`` and
    ``iwae_bpd`` (averaged over images), the per-image arrays ``elbo_bpd_per_image`` and
    ``iwae_bpd_per_image``, ``num_particles`` and ``num_images``.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (num_images, obs_dim) array, got {x.shape}")
    if not isinstance(num_particles, (int, np.integer)) or num_particles < 1:
        raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    elbo_nats = np.empty(x.shape[0])
    iwae_nats = np.empty(x.shape[0])
    for index, start in enumerate(range(0, x.shape[0], batch_size)):
        stop = min(start + batch_size, x.shape[0])
        log_w = model.log_weights(x[start:stop], int(num_particles), _batch_seed(seed, index))
        elbo_nats[start:stop] = -log_w.mean(axis=0)
        iwae_nats[start:stop] = -_logmeanexp(log_w)
    elbo_bpd = nats_to_bpd(elbo_nats, model.obs_dim)
    iwae_bpd = nats_to_bpd(iwae_nats, model.obs_dim)
    return {
        "elbo_bpd": float(np.mean(elbo_bpd)),
        "iwae_bpd": float(np.mean(iwae_bpd)),
        "elbo_bpd_per_image": elbo_bpd,
        "iwae_bpd_per_image": iwae_bpd,
        "num_particles": int(num_particles),
        "num_images": int(x.shape[0]),
    }


def loss(
    network: Any,
    x: torch.Tensor,
    bound: str,
    num_particles: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean negative ``bound`` ("ELBO" or "IWAE") in nats per image, differentiable.

    ``network`` is a :class:`~bitsback_vae.network.BinaryVAENetwork` (or a model exposing
    one as ``.network``); ``x`` a float tensor ``(batch, 784)`` on the network's device.
    The reparameterization noise is drawn from ``generator`` (default: torch's global RNG)
    on the generator's device. With one particle the IWAE bound equals the ELBO.
    """
    import torch

    net = getattr(network, "network", network)
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    if not isinstance(num_particles, int) or num_particles < 1:
        raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (batch, obs_dim), got {tuple(x.shape)}")
    noise_device = generator.device if generator is not None else x.device
    eps = torch.randn(
        (num_particles, x.shape[0], net.latent_dim),
        generator=generator,
        device=noise_device,
        dtype=x.dtype,
    ).to(x.device)
    log_w = net.encode_log_weights(x, eps)
    if bound == "ELBO":
        per_image = log_w.mean(dim=0)
    else:
        per_image = torch.logsumexp(log_w, dim=0) - math.log(num_particles)
    return -per_image.mean()
