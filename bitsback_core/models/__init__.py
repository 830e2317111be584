"""Latent-variable model interface."""

from bitsback_core.models.interface import DifferentiableModel, GaussianParams, LatentVariableModel

__all__ = ["DifferentiableModel", "GaussianParams", "LatentVariableModel"]
