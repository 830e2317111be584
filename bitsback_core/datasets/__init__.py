"""Dataset interface."""

from bitsback_core.datasets.interface import Dataset

__all__ = ["Dataset"]
