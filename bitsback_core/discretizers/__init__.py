"""Latent discretizer interface."""

from bitsback_core.discretizers.interface import Discretizer

__all__ = ["Discretizer"]
