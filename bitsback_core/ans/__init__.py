"""The vectorized rANS message and the codecs that push symbol vectors onto its lanes."""

from bitsback_core.ans._kernels import register_rows_kernel, run_rows
from bitsback_core.ans.codec import LaneView, lane_offset
from bitsback_core.ans.message import EmptyStackError, Message, MessageFormatError

__all__ = [
    "LaneView",
    "lane_offset",
    "EmptyStackError",
    "Message",
    "MessageFormatError",
    "register_rows_kernel",
    "run_rows",
]
