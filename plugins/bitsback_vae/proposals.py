"""Proposals q(z|x) for the VAE: the amortized encoder, and iterative refinement of it.

Iterative inference (the seed's ``--iterative_post_improvement``) starts from the
encoder's prediction and takes a fixed number of Adam steps on each image's own
single-sample negative ELBO. The result must be reproducible by the decoder from the
decoded image alone, so all randomness comes from a CPU generator seeded by ``seed`` and
the computation depends only on ``x`` and its batch shape. With a portable model
(:class:`~bitsback_vae.model.PortableBinaryVAE`) the same procedure runs in fixed-point
integers (:mod:`bitsback_vae.portable_inference`), so the refined posterior, and with it
the code, is the same on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitsback_core.models.interface import DifferentiableModel, GaussianParams, LatentVariableModel
from bitsback_core.proposals.interface import Proposal

__all__ = ["AmortizedProposal", "IterativeProposal"]


def _is_portable(model: LatentVariableModel) -> bool:
    """Whether ``model`` is a portable BinaryVAE (the one portable model iterative inference knows)."""
    if getattr(model, "arithmetic", "float") != "portable":
        return False
    from bitsback_vae.model import PortableBinaryVAE

    if not isinstance(model, PortableBinaryVAE):
        raise TypeError(
            f"portable iterative inference supports PortableBinaryVAE only, got {type(model).__name__}"
        )
    return True


class AmortizedProposal(Proposal):
    """The model's own encoder q(z|x); takes no options."""

    PLUGIN_NAME = "amortized"
    PER_ROW = True  # the encoder network, row by row

    def __init__(self, model: LatentVariableModel, **options: Any) -> None:
        if options:
            raise ValueError(f"the amortized proposal takes no options, got {sorted(options)}")
        super().__init__(model)

    def __call__(self, x: np.ndarray, seed: int = 0) -> GaussianParams:
        return self.model.posterior(x)


class IterativeProposal(Proposal):
    """Amortized-iterative inference: ``steps`` Adam steps from the encoder's posterior.

    Options: ``steps`` (int >= 0, default 50) and ``lr`` (float > 0, default 0.01). The
    objective is the sum over the batch of each image's single-sample reparameterized
    negative ELBO; each image's gradient depends only on its own (mean, log_std), and
    Adam is element-wise, so images do not interact. A portable model gets
    :func:`~bitsback_vae.portable_inference.portable_iterative_posterior` (integer Adam,
    ``lr`` at most 1) and fixed-point parameters back.
    """

    PLUGIN_NAME = "iterative"
    ALIASES = ("iterative_inference",)

    def __init__(self, model: LatentVariableModel, **options: Any) -> None:
        unknown = sorted(set(options) - {"steps", "lr"})
        if unknown:
            raise ValueError(f"unknown iterative-proposal options {unknown}; known: lr, steps")
        self.portable = _is_portable(model)
        if not (self.portable or isinstance(model, DifferentiableModel)):
            raise TypeError(
                "iterative inference needs a DifferentiableModel or a PortableBinaryVAE, "
                f"got {type(model).__name__}"
            )
        steps = options.get("steps", 50)
        lr = options.get("lr", 0.01)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be a non-negative int, got {steps!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        if self.portable:
            from bitsback_vae.portable_inference import MAX_LR

            if lr > MAX_LR:
                raise ValueError(f"portable iterative inference needs lr <= {MAX_LR}, got {lr!r}")
        super().__init__(model, steps=int(steps), lr=float(lr))
        self.steps = int(steps)
        self.lr = float(lr)

    def __call__(self, x: np.ndarray, seed: int = 0) -> Any:
        """Refined posterior parameters: GaussianParams, or FixedGaussianParams when portable."""
        import torch

        model = self.model
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != model.obs_dim:
            raise ValueError(f"x must have shape (batch, {model.obs_dim}), got {x.shape}")
        if not np.all((x == 0) | (x == 1)):
            raise ValueError("iterative inference needs binary observations (0 or 1)")
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
        if self.portable:
            from bitsback_vae.model import PortableBinaryVAE
            from bitsback_vae.portable_inference import portable_iterative_posterior

            assert isinstance(model, PortableBinaryVAE)  # checked in __init__ (_is_portable)
            return portable_iterative_posterior(model, x, int(seed), self.steps, self.lr)
        assert isinstance(model, DifferentiableModel)
        device = torch.device(model.device)
        xt = torch.as_tensor(x.astype(np.float32), device=device)
        from bitsback_vae.model import coding_threads

        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        with torch.enable_grad(), coding_threads():
            with torch.no_grad():
                mean0, log_std0 = model.torch_posterior(xt)
            mean = mean0.detach().clone().requires_grad_(True)
            log_std = log_std0.detach().clone().requires_grad_(True)
            optimizer = torch.optim.Adam([mean, log_std], lr=self.lr)
            for _ in range(self.steps):
                eps = torch.randn(mean.shape, generator=gen, dtype=mean.dtype).to(device)
                z = mean + torch.exp(log_std) * eps
                # log N(z; 0, I) - log q(z|x), dropping the constants that cancel; log q is
                # written through eps so its gradient is the exact entropy gradient.
                log_prior_minus_q = (-0.5 * z.square() + 0.5 * eps.square() + log_std).sum(-1)
                neg_elbo = -(model.torch_log_likelihood(xt, z) + log_prior_minus_q)
                # autograd.grad (not backward) leaves the network's .grad untouched.
                grad_mean, grad_log_std = torch.autograd.grad(neg_elbo.sum(), [mean, log_std])
                mean.grad, log_std.grad = grad_mean, grad_log_std
                optimizer.step()
        with torch.no_grad():
            std = torch.exp(log_std)
        return GaussianParams(
            mean=mean.detach().cpu().double().numpy(), std=std.detach().cpu().double().numpy()
        )
