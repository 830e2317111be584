"""Dataset-level compression: chain layout, encode/decode drivers, the compressed file."""

from bitsback_core.compression.driver import decode_dataset, encode_dataset
from bitsback_core.compression.layout import ChainLayout

__all__ = ["ChainLayout", "decode_dataset", "encode_dataset"]
