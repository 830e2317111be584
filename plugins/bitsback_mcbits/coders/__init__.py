"""The four coders of the paper, one module each."""

from bitsback_mcbits.coders.coupled import CISBitsBackCoder
from bitsback_mcbits.coders.elbo import BitsBackCoder
from bitsback_mcbits.coders.importance import ISBitsBackCoder
from bitsback_mcbits.coders.stochastic import StochasticCoder

__all__ = ["BitsBackCoder", "CISBitsBackCoder", "ISBitsBackCoder", "StochasticCoder"]
