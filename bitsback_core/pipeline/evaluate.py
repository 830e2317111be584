"""``bitsback evaluate``'s library half: ideal bitrates (negative ELBO and IWAE-K bounds)."""

from __future__ import annotations

import time

import attrs

from bitsback_core.config import Config
from bitsback_core.pipeline.data import load_images
from bitsback_core.registry import Registry
from bitsback_core.session import CodingSession

__all__ = ["EvaluateResult", "evaluate_bounds"]


@attrs.frozen
class EvaluateResult:
    split: str
    dataset: str
    num_compress: int
    num_particles: int
    checkpoint: str
    device: str
    elbo_bpd: float
    iwae_bpd: float
    seconds: float
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        out = attrs.asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def evaluate_bounds(config: Config, registry: Registry) -> EvaluateResult:
    """Negative ELBO and negative IWAE-``num_particles`` bound, bits/dim, on the test images."""
    session = CodingSession.from_config(config, registry)
    x = load_images(config, registry)
    started = time.perf_counter()
    elbo = session.ideal_bpd(x, num_particles=1)
    iwae = session.ideal_bpd(x)
    return EvaluateResult(
        split=config.split,
        dataset=config.dataset,
        num_compress=int(x.shape[0]),
        num_particles=config.num_particles,
        checkpoint=str(session.components.source.checkpoint),
        device=session.device,
        elbo_bpd=elbo,
        iwae_bpd=iwae,
        seconds=time.perf_counter() - started,
        warnings=session.warnings,
    )
