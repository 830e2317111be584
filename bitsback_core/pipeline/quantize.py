"""``bitsback quantize``'s library half: a float checkpoint's portable model, inspected and saved.

Coding converts the float checkpoint on load (deterministically, so every machine gets the
same integers); this makes the conversion visible: the portable model's identity (the
SHA-256 files record), each layer's fixed-point scale, how far the integer network's
outputs are from the float network's on a few binary images, and optionally the integers
themselves as an ``.npz`` file.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from bitsback_core.config import Config
from bitsback_core.distributions.fixed_gaussian import FixedGaussianParams
from bitsback_core.errors import ConfigError
from bitsback_core.pipeline.components import build_components
from bitsback_core.registry import Registry

__all__ = ["QuantizeResult", "quantize_model"]


@attrs.frozen
class QuantizeResult:
    """The portable model of a checkpoint: identity, scales, and its distance from the float model."""

    checkpoint: str
    identity: str
    portable_format: int
    layers: dict[str, int]
    #: The float type each layer's products are exact in (network format 2: float32 for some).
    products: dict[str, str]
    max_mean_error: float
    max_log_std_error: float
    output: str | None

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


def _probe_images(count: int, seed: int) -> np.ndarray:
    """Digit-like binary images (a blob of ink each): only used to compare the two networks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(9, 19, size=(count, 2))
    ink = np.exp(-(((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 30.0))
    return (rng.random((count, 28, 28)) < ink).reshape(count, 784).astype(np.uint8)


def quantize_model(
    config: Config, registry: Registry, output: Path | None = None, overwrite: bool = False
) -> QuantizeResult:
    """Convert the configured model to portable arithmetic; write it to ``output`` if given."""
    if output is not None and output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists (use --force to overwrite)")
    if output is not None and not output.parent.is_dir():
        raise FileNotFoundError(f"directory {output.parent} does not exist")
    parts = build_components(attrs.evolve(config, arithmetic="portable"), registry)
    model = parts.model
    float_model = getattr(model, "float_model", None)
    net = getattr(model, "net", None)
    identity = model.identity()
    if float_model is None or net is None or identity is None:
        raise ConfigError(
            f"model {type(model).__name__} does not expose its float twin and integers"
        )
    x = _probe_images(64, config.seed)
    fixed = model.posterior(x)
    if not isinstance(fixed, FixedGaussianParams):
        raise ConfigError(f"portable model {type(model).__name__} returned a float posterior")
    mean, std = fixed.to_float()
    reference = float_model.posterior(x)
    if output is not None:
        model.save(output)
    return QuantizeResult(
        checkpoint=str(parts.source.checkpoint),
        identity=identity,
        portable_format=model.portable_format,
        layers={name: layer.weight_bits for name, layer in net.layers.items()},
        products={
            name: str(getattr(layer, "products", "float64")) for name, layer in net.layers.items()
        },
        max_mean_error=float(np.abs(mean - reference.mean).max()),
        max_log_std_error=float(np.abs(np.log(std) - np.log(reference.std)).max()),
        output=None if output is None else str(output),
    )
