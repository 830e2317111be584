"""Portable arithmetic: fixed-point formats, decimal-built function tables, integer kernels.

Everything that decides a code in portable mode is computed here or from these pieces, so
a file decodes on every machine (``docs/design.md``, "Portability").
"""

from bitsback_core.portable.formats import LATENT_BITS, LOG2_BITS, LOGIT_BITS
from bitsback_core.portable.tables import TABLES_SHA256, load_tables, lookup, normal_quantiles

__all__ = [
    "LATENT_BITS",
    "LOG2_BITS",
    "LOGIT_BITS",
    "TABLES_SHA256",
    "load_tables",
    "lookup",
    "normal_quantiles",
]
