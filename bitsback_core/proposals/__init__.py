"""Proposal (posterior inference) interface."""

from bitsback_core.proposals.interface import Proposal

__all__ = ["Proposal"]
