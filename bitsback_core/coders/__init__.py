"""Coder interface."""

from bitsback_core.coders.interface import Coder

__all__ = ["Coder"]
