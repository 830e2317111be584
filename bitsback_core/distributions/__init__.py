"""Quantized (integer-CDF) distributions for rANS coding."""

from bitsback_core.distributions.interface import QuantizedDistribution

__all__ = ["QuantizedDistribution"]
