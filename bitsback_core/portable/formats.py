"""Fixed-point formats of portable arithmetic: one place names every scale.

A fixed-point value ``v`` with ``B`` fraction bits is the integer ``round(v * 2**B)``.
Every number that decides a code in portable mode is an integer in one of these formats,
computed with integer operations (or float64 products and sums that are integers small
enough to be exact in any order), so it is identical on every IEEE-754 machine, device,
BLAS, thread count and libm. ``docs/design.md`` ("Portability") states the contract.
"""

from __future__ import annotations

__all__ = [
    "ACT_BITS",
    "EXACT_BOUND",
    "LATENT_BITS",
    "LOG2_BITS",
    "LOGIT_BITS",
    "PROB_BITS",
    "TABLE_STEP_BITS",
    "WEIGHT_BITS",
    "MAX_PORTABLE_PREC",
]

#: Hidden activations (tanh outputs, |h| <= 1) and pre-activations fed to the tanh table.
ACT_BITS = 16
#: Latent values: posterior means and log standard deviations, bucket edges and centres.
LATENT_BITS = 20
#: Bernoulli logits of the decoder's output layer.
LOGIT_BITS = 16
#: Probabilities out of the sigmoid and normal-CDF tables (and the exp2 table's unit).
PROB_BITS = 32
#: Base-2 logarithms in importance weights.
LOG2_BITS = 24
#: Relative weight of the most likely particle in the particle-index distribution.
WEIGHT_BITS = 30
#: Every function table samples its argument on a grid of ``2**-TABLE_STEP_BITS`` and
#: interpolates linearly (in integers) between grid points.
TABLE_STEP_BITS = 10
#: Float64 sums of integers stay exact in any order while every partial sum is below this.
EXACT_BOUND = 2**52
#: Largest coding precision the integer kernels support (products stay below 2**63).
MAX_PORTABLE_PREC = 30
