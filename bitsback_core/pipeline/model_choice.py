"""Pick the installed model that codes given images best, when the user names none.

Why: the shipped models are trained on different data (dynamically binarized digits,
letters, ...) and the images people compress are not always the kind a default model
expects. Scoring every installed model on a small sample of the input costs well under a
second per model and picks the one that fits. The score is the negative ELBO in bits/dim
(the rate BB-ELBO achieves, and close to the other coders' order), computed in float:
it only *chooses*; the file records the chosen model's identity, so decoding never
depends on this choice being reproducible.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from bitsback_core.models.bounds import ideal_bpd
from bitsback_core.models.catalogue import Catalogue, CatalogueEntry
from bitsback_core.registry import Registry

__all__ = ["ModelScore", "SAMPLE_IMAGES", "choose_model", "sample_rows"]

#: Images of the input the models are scored on (an even spread over the input).
SAMPLE_IMAGES = 200


@attrs.frozen
class ModelScore:
    """One installed model's negative ELBO on the sample (bits/dim)."""

    name: str
    bpd: float


def sample_rows(images: np.ndarray, count: int = SAMPLE_IMAGES) -> np.ndarray:
    """Up to ``count`` images spread evenly over ``images``, flattened to 0/1 uint8 rows."""
    n = images.shape[0]
    index = np.unique(np.linspace(0, n - 1, num=min(n, count)).astype(np.int64))
    rows = np.asarray(images[index]).reshape(index.size, -1)
    return (rows != 0).astype(np.uint8)


def _score(entry: CatalogueEntry, rows: np.ndarray, registry: Registry, seed: int) -> float | None:
    """The entry's bits/dim on ``rows``; None when it codes another number of pixels."""
    model_cls = registry.get("model", entry.train_config.model)
    pixels = getattr(model_cls, "obs_dim", None)
    if isinstance(pixels, int) and pixels != rows.shape[1]:
        return None
    model = model_cls.from_config(entry.train_config.as_dict(), entry.checkpoint, "cpu")
    if model.obs_dim != rows.shape[1]:
        return None
    return ideal_bpd(model, rows, 1, seed)


def choose_model(
    images: np.ndarray, catalogue: Catalogue, registry: Registry, seed: int = 0
) -> tuple[CatalogueEntry | None, tuple[ModelScore, ...]]:
    """The installed model with the lowest score on a sample of ``images``, and every score.

    Models whose plugin is not installed, or that code another number of pixels, are left
    out; ties go to the earlier name. Returns ``(None, ())`` when no model fits.
    """
    rows = sample_rows(images)
    scores: list[tuple[float, CatalogueEntry]] = []
    for entry in catalogue.entries:
        try:
            bpd = _score(entry, rows, registry, seed)
        except (LookupError, ValueError):  # plugin missing or weights unreadable: not a candidate
            continue
        if bpd is not None and math.isfinite(bpd):
            scores.append((bpd, entry))
    if not scores:
        return None, ()
    scores.sort(key=lambda pair: (pair[0], pair[1].name))
    return scores[0][1], tuple(ModelScore(entry.name, bpd) for bpd, entry in scores)
