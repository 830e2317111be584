"""The compressed file: a self-describing header, the rANS message, and a checksum.

Layout (all integers little-endian)::

    b"BITSBACK"  u16 format version  u32 header length  header (UTF-8 JSON)
    u64 message length  message bytes (see Message.to_bytes)
    32 bytes: SHA-256 of everything above

The header records every setting the decoder needs (the resolved config, the chain
layout, the model's checkpoint digest), so ``decompress`` rebuilds exactly the encoder's
coder. The checksum turns a damaged or truncated file into a clear error instead of
garbage images.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import attrs

from bitsback_core.errors import BitsbackError

__all__ = ["CompressedFile", "ContainerError", "FORMAT_VERSION", "write_new_file"]

MAGIC = b"BITSBACK"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sHI")
_LENGTH = struct.Struct("<Q")
_DIGEST = 32


class ContainerError(BitsbackError, ValueError):
    """The file is not a bitsback file, is damaged, or was written by an unknown version."""


@attrs.frozen
class CompressedFile:
    """A parsed compressed file: header values and the raw message bytes."""

    header: dict[str, Any]
    message: bytes

    def to_bytes(self) -> bytes:
        head = json.dumps(self.header, sort_keys=True).encode("utf-8")
        body = b"".join(
            [_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)), head, _LENGTH.pack(len(self.message)), self.message]
        )
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "input") -> CompressedFile:
        if len(data) < _PREFIX.size + _LENGTH.size + _DIGEST:
            raise ContainerError(f"{name} is too short to be a bitsback file ({len(data)} bytes)")
        magic, version, head_len = _PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise ContainerError(f"{name} is not a bitsback file (bad magic bytes)")
        if version != FORMAT_VERSION:
            raise ContainerError(f"{name} has format version {version}; this bitsback reads {FORMAT_VERSION}")
        body, digest = data[:-_DIGEST], data[-_DIGEST:]
        if hashlib.sha256(body).digest() != digest:
            raise ContainerError(f"{name} is damaged or truncated (checksum mismatch)")
        offset = _PREFIX.size
        if offset + head_len + _LENGTH.size > len(body):
            raise ContainerError(f"{name} has inconsistent section lengths")
        try:
            header = json.loads(body[offset : offset + head_len].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ContainerError(f"{name} has an unreadable header: {exc}") from None
        offset += head_len
        (msg_len,) = _LENGTH.unpack_from(body, offset)
        offset += _LENGTH.size
        if offset + msg_len != len(body):
            raise ContainerError(f"{name} has inconsistent section lengths")
        if not isinstance(header, dict):
            raise ContainerError(f"{name} has a header that is not a JSON object")
        return cls(header=header, message=bytes(body[offset:]))

    @classmethod
    def read(cls, path: Path) -> CompressedFile:
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        return cls.from_bytes(path.read_bytes(), name=str(path))


def write_new_file(path: Path, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` atomically (temp file, then rename); never clobber unless asked.

    A crash mid-write leaves the old file (or nothing) in place, never a half file.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (use --force to overwrite)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
