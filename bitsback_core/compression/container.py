"""The ``.bbz`` file, format 2: a compact binary header and independent, checksummed frames.

Layout (``docs/format.md`` has the byte tables; little-endian, varint = unsigned LEB128)::

    prefix   b"\\x89BBZ"  u8 version (2)  u8 flags  varint header length H
    header   H bytes: component codes, precisions, layout, seed, model identity, images
    u32      CRC32 of prefix + header
    frames   one per ``frame_images`` images: u32 length, u8 codec, u32 CRC32, payload

Why this shape: format 1 stored the whole config as JSON with absolute local paths (about
1.2 KB, and it named files on the encoder's machine) and one message guarded by a
trailing SHA-256, so nothing could be checked or decoded before reading everything. Here
the header holds only what decoding needs (about 50 bytes: built-in component names are
one byte each, the model is named by 128 bits of its identity rather than a path), and
every field is checked against hard limits before anything is allocated or opened, so a
crafted file is refused in milliseconds. Frames are independent messages with their own
CRC, which also covers the header's CRC and the frame's index, so damage is located, a
frame moved from another file or another position is refused before decoding, and frames
can be read one at a time (:class:`FileReader`) and decoded in parallel or as a range.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs
import numpy as np

from bitsback_core.ans.message import mix64
from bitsback_core.compression.layout import ChainLayout
from bitsback_core.errors import BitsbackError

__all__ = [
    "CODEC_BITS_BACK",
    "DEFAULT_FRAME_IMAGES",
    "FRAME_CODECS",
    "FRAME_HEAD_BYTES",
    "IDENTITY_BYTES",
    "MAX_MODEL_NAME",
    "NAME_CODES",
    "CompressedFile",
    "ContainerError",
    "FileReader",
    "FORMAT_VERSION",
    "Header",
    "encode_frame",
    "frame_seed",
    "header_problem",
    "identity_prefix",
    "write_new_file",
]

MAGIC = b"\x89BBZ"
FORMAT_VERSION = 2
#: Format 1 files started with this magic; they are refused with a pointer to the last release.
V1_MAGIC = b"BITSBACK"
#: The last commit whose ``bitsback`` writes and reads format 1.
LAST_V1_COMMIT = "46f0c26"
FLAG_PORTABLE = 0x01
FLAG_ITERATIVE = 0x02
#: Portable model format 2 (``docs/design.md``, "Portability"); unset: format 1. Readers
#: before it refuse such files as "unknown flags" instead of failing to find their model.
FLAG_FORMAT2 = 0x04
_KNOWN_FLAGS = FLAG_PORTABLE | FLAG_ITERATIVE | FLAG_FORMAT2
#: The portable model formats a header can name (flag bit 2).
PORTABLE_FORMATS = (1, 2)
DEFAULT_FRAME_IMAGES = 10_000

#: The built-in names a one-byte code stands for: code ``k >= 1`` is ``NAME_CODES[kind][k - 1]``;
#: code 0 means a length-prefixed name follows (third-party plugins). Append only: a code once
#: written must keep its meaning (docs/format.md, "Name codes").
NAME_CODES: dict[str, tuple[str, ...]] = {
    "coder": ("BitsBackCoder", "ISBitsBackCoder", "CISBitsBackCoder", "StochasticCoder"),
    "proposal": ("amortized", "iterative"),
    "discretizer": ("max_entropy",),
    "model": ("BinaryVAE",),
    "dtype": (
        "|b1", "|u1", "|i1", "<u2", "<u4", "<u8", "<i2", "<i4", "<i8",
        ">u2", ">u4", ">u8", ">i2", ">i4", ">i8",
    ),
}  # fmt: skip

#: What a frame's codec byte says its payload is (docs/format.md, "Frames").
CODEC_BITS_BACK = 0
FRAME_CODECS: dict[int, str] = {
    CODEC_BITS_BACK: "bits-back",
    1: "bz2",
    2: "context",
    3: "backoff",
}

_CRC = struct.Struct("<I")
#: A frame's head: payload length, codec, CRC32.
_FRAME = struct.Struct("<IBI")
FRAME_HEAD_BYTES = _FRAME.size
_FRAME_INDEX = struct.Struct("<Q")
_F64 = struct.Struct("<d")
#: The model identity a file stores: the first 128 bits of its SHA-256.
IDENTITY_BYTES = 16
MAX_MODEL_NAME = 32
#: Bytes per lane of a frame's lane table (u64 head, u32 stack length).
LANE_TABLE_BYTES = 12

# Hard limits, checked before anything is allocated (docs/format.md, "Limits").
MAX_HEADER_BYTES = 2048
MAX_IMAGES = 2**40
MAX_FRAME_IMAGES = 2**24
MAX_LANES = 2**20
MAX_PARTICLES = 2**16
MAX_LOG_NUM_BUCKET = 16
MAX_PREC = 32
MAX_PORTABLE_PREC = 30
MAX_STEPS = 100_000
MAX_NDIM = 8
MAX_PIXELS = 2**24
MAX_LATENT_DIM = 2**16
MAX_VARINT_BYTES = 10
_DTYPE = re.compile(r"\|b1|\|[ui]1|[<>][ui][248]")
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
#: Payloads are read in pieces of at most this many bytes, so a crafted length allocates
#: no more than the input really holds.
_READ_CHUNK = 1 << 22


class ContainerError(BitsbackError, ValueError):
    """The file is not a bitsback file, is damaged, or was written by an unknown version."""


def frame_seed(seed: int, index: int) -> int:
    """The message seed of frame ``index``: ``seed XOR splitmix64(index * golden)``.

    ``mix64(0) == 0``, so frame 0 uses the file's seed itself (a one-frame file holds
    exactly the message ``bitsback run`` would code); other frames get unrelated initial
    bits, so no two frames of a file start from the same heads.
    """
    with np.errstate(over="ignore"):
        return seed ^ int(mix64(np.uint64((index * _GOLDEN) & _MASK64)))


def identity_prefix(digest_hex: str) -> bytes:
    """The identity a file stores for a model whose full digest is ``digest_hex``: its first 128 bits."""
    digest = bytes.fromhex(digest_hex)
    if len(digest) < IDENTITY_BYTES:
        raise ValueError(
            f"a model identity needs at least {IDENTITY_BYTES} bytes, got {len(digest)}"
        )
    return digest[:IDENTITY_BYTES]


@attrs.frozen(kw_only=True)
class Header:
    """Everything a decoder needs, and nothing that names the encoder's machine."""

    portable: bool
    coder: str
    num_particles: int
    lprec: int
    bprec: int
    log_num_bucket: int
    prior_mprec: int
    prop_mprec: int
    cond_mprec: int
    chains: int
    lanes: int
    seed: int
    proposal: str
    discretizer: str
    #: ``(steps, lr)`` of iterative inference (flag bit 1), else None.
    iterative: tuple[int, float] | None
    model: str
    latent_dim: int
    #: The first :data:`IDENTITY_BYTES` bytes of the model's identity (see :func:`identity_prefix`).
    identity: bytes
    #: A label for messages and the lookup order (at most 32 characters), never a path.
    model_name: str
    dtype: str
    image_shape: tuple[int, ...]
    num_images: int
    frame_images: int = DEFAULT_FRAME_IMAGES
    #: The portable model's format (flag bit 2); 1 for float files.
    portable_format: int = 1

    @property
    def arithmetic(self) -> str:
        return "portable" if self.portable else "float"

    @property
    def identity_hex(self) -> str:
        return self.identity.hex()

    def identity_matches(self, digest_hex: str) -> bool:
        """Whether a model whose full identity is ``digest_hex`` is the one this file names."""
        return digest_hex.lower().startswith(self.identity_hex)

    @property
    def flags(self) -> int:
        return (
            (FLAG_PORTABLE if self.portable else 0)
            | (FLAG_ITERATIVE if self.iterative else 0)
            | (FLAG_FORMAT2 if self.portable_format == 2 else 0)
        )

    @property
    def num_frames(self) -> int:
        return -(-self.num_images // self.frame_images)

    def frame_slice(self, index: int) -> slice:
        """The images (rows of the whole array) frame ``index`` holds."""
        start = index * self.frame_images
        return slice(start, min(start + self.frame_images, self.num_images))

    def frame_layout(self, index: int) -> ChainLayout:
        """Frame ``index``'s chains and lanes: the header's, with at most one chain per image."""
        sl = self.frame_slice(index)
        count = sl.stop - sl.start
        return ChainLayout(count, min(self.chains, count), self.lanes)

    def frame_seed(self, index: int) -> int:
        return frame_seed(self.seed, index)

    def to_bytes(self, check: bool = True) -> bytes:
        """Prefix, header body and CRC32; raises ContainerError for a value out of the limits.

        ``check=False`` writes the fields as they are (tests craft illegal headers with it).
        """
        problem = header_problem(self) if check else None
        if problem:
            raise ContainerError(f"cannot write this header: {problem}")
        body = _encode_body(self)
        prefix = MAGIC + bytes([FORMAT_VERSION, self.flags]) + _varint(len(body))
        return prefix + body + _CRC.pack(zlib.crc32(prefix + body))

    def checksum(self) -> int:
        """The header's CRC32 (its last four bytes), which every frame's CRC starts from."""
        return int(_CRC.unpack(self.to_bytes(check=False)[-_CRC.size :])[0])


# --- writing -------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"a varint cannot hold {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode("ascii")
    return bytes([len(raw)]) + raw


def _name(kind: str, value: str) -> bytes:
    """A built-in name as its one-byte code, any other as code 0 and the name."""
    table = NAME_CODES[kind]
    return bytes([table.index(value) + 1]) if value in table else b"\0" + _text(value)


def _encode_body(h: Header) -> bytes:
    """The header body, field by field in the order of docs/format.md."""
    parts = [
        _name("coder", h.coder),
        _varint(h.num_particles),
        bytes([h.lprec, h.bprec, h.log_num_bucket, h.prior_mprec, h.prop_mprec, h.cond_mprec]),
        _varint(h.chains),
        _varint(h.lanes),
        _varint(h.seed),
        _name("proposal", h.proposal),
        _name("discretizer", h.discretizer),
    ]
    if h.iterative is not None:
        parts += [_varint(h.iterative[0]), _F64.pack(h.iterative[1])]
    parts += [_name("model", h.model), _varint(h.latent_dim), h.identity, _text(h.model_name)]
    parts += [
        _name("dtype", h.dtype),
        bytes([len(h.image_shape)]),
        *(_varint(d) for d in h.image_shape),
    ]
    parts += [_varint(h.num_images), _varint(h.frame_images)]
    return b"".join(parts)


def _frame_crc(header_crc: int, index: int, head: bytes, payload: bytes) -> int:
    """CRC32 of the frame index (u64), the frame's length and codec, and its payload, started
    from the header's CRC: a frame only checks out in the file and position it was written for."""
    return zlib.crc32(payload, zlib.crc32(_FRAME_INDEX.pack(index) + head, header_crc))


def encode_frame(
    header_crc: int, index: int, payload: bytes, codec: int = CODEC_BITS_BACK
) -> bytes:
    """Frame ``index`` of the file whose header has CRC ``header_crc``: head and payload."""
    head = _FRAME.pack(len(payload), codec, 0)[:5]
    return head + _CRC.pack(_frame_crc(header_crc, index, head, payload)) + payload


# --- validation ----------------------------------------------------------------------------


def _name_problem(
    field: str, value: str, allow_empty: bool = False, longest: int = 255
) -> str | None:
    if not value and not allow_empty:
        return f"{field} is empty"
    if len(value) > longest or any(not " " <= c <= "~" for c in value):
        return f"{field} {value[:40]!r} is not printable ASCII of at most {longest} characters"
    return None


def _range_problem(field: str, value: int, low: int, high: int) -> str | None:
    if not low <= value <= high:
        return f"{field} {value} is outside [{low}, {high}]"
    return None


def _precision_problems(h: Header) -> list[str | None]:
    """The precisions' legal ranges: the message's rules, the discretizer's, portable limits."""
    top = min(h.lprec, MAX_PORTABLE_PREC if h.portable else MAX_PREC)
    return [
        _range_problem("bprec", h.bprec, 1, 32),
        _range_problem("lprec", h.lprec, 1, 64 - h.bprec),
        *(
            _range_problem(f, getattr(h, f), 1, top)
            for f in ("prior_mprec", "prop_mprec", "cond_mprec")
        ),
        _range_problem(
            "log_num_bucket",
            h.log_num_bucket,
            1,
            min(MAX_LOG_NUM_BUCKET, h.prior_mprec, h.prop_mprec),
        ),
    ]


def header_problem(h: Header) -> str | None:
    """The first field outside the format's limits (docs/format.md), or None if all are legal."""
    checks: list[str | None] = [
        *(_name_problem(f, getattr(h, f)) for f in ("coder", "proposal", "discretizer", "model")),
        _name_problem("model name", h.model_name, allow_empty=True, longest=MAX_MODEL_NAME),
        _range_problem("num_particles", h.num_particles, 1, MAX_PARTICLES),
        *_precision_problems(h),
        _range_problem("chains", h.chains, 1, MAX_LANES),
        _range_problem("lanes", h.lanes, 1, MAX_LANES // max(1, min(h.chains, MAX_LANES))),
        _range_problem("seed", h.seed, 0, _MASK64),
        _range_problem("latent_dim", h.latent_dim, 1, MAX_LATENT_DIM),
        _range_problem("image count", h.num_images, 1, MAX_IMAGES),
        _range_problem("images per frame", h.frame_images, 1, MAX_FRAME_IMAGES),
        _range_problem("chains", h.chains, 1, min(h.num_images, h.frame_images)),
        _shape_problem(h),
    ]
    if len(h.identity) != IDENTITY_BYTES:
        checks.append(f"model identity has {len(h.identity)} bytes, not {IDENTITY_BYTES}")
    if h.portable_format not in (PORTABLE_FORMATS if h.portable else (1,)):
        checks.append(
            f"portable model format {h.portable_format!r} is not one a header can name"
            + (" (1 or 2)" if h.portable else " (float arithmetic has none)")
        )
    if h.iterative is not None:
        steps, lr = h.iterative
        checks.append(_range_problem("iterative steps", steps, 0, MAX_STEPS))
        if not (math.isfinite(lr) and 0 < lr <= 1):
            checks.append(f"iterative lr {lr!r} is outside (0, 1]")
    return next((c for c in checks if c), None)


def _shape_problem(h: Header) -> str | None:
    if not _DTYPE.fullmatch(h.dtype):
        return f"input dtype {h.dtype[:16]!r} is not a boolean or integer dtype"
    if not 1 <= len(h.image_shape) <= MAX_NDIM:
        return f"image shape has {len(h.image_shape)} dimensions, not 1 to {MAX_NDIM}"
    if any(d < 1 for d in h.image_shape) or math.prod(h.image_shape) > MAX_PIXELS:
        return f"image shape {h.image_shape} is empty or over {MAX_PIXELS} pixels"
    return None


# --- reading -------------------------------------------------------------------------------


class _Fields:
    """Reads header fields; running past the end is a ContainerError naming the field."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.pos, self.name = data, 0, name

    def take(self, size: int, field: str) -> bytes:
        if self.pos + size > len(self.data):
            raise ContainerError(f"{self.name} has a damaged header: it ends inside {field}")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def varint(self, field: str) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = self.u8(field)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if (byte == 0 and i > 0) or value > _MASK64:
                    break
                return value
        raise ContainerError(f"{self.name} has a damaged header: {field} is not a valid varint")

    def text(self, field: str, longest: int = 255) -> str:
        size = self.u8(field)
        if size > longest:
            raise ContainerError(
                f"{self.name} has a damaged header: {field} has {size} characters, at most {longest}"
            )
        raw = self.take(size, field)
        if any(not 0x20 <= b <= 0x7E for b in raw):
            raise ContainerError(
                f"{self.name} has a damaged header: {field} is not printable ASCII"
            )
        return raw.decode("ascii")

    def name_code(self, kind: str, field: str) -> str:
        """A built-in name from its code, or a spelled-out name (code 0) that has none."""
        table, code = NAME_CODES[kind], self.u8(field)
        if code > len(table):
            raise ContainerError(
                f"{self.name} has an unknown {field} code {code} (written by a newer release?)"
            )
        if code:
            return table[code - 1]
        value = self.text(field)
        if value in table:
            raise ContainerError(
                f"{self.name} has a damaged header: {field} {value!r} is spelled out but has a code"
            )
        return value


def _decode_body(body: bytes, flags: int, name: str) -> Header:
    """Parse the header body (its CRC already checked); every field must be used exactly."""
    r = _Fields(body, name)
    coder, particles = r.name_code("coder", "coder"), r.varint("num_particles")
    precs = [
        r.u8(f)
        for f in ("lprec", "bprec", "log_num_bucket", "prior_mprec", "prop_mprec", "cond_mprec")
    ]
    chains, lanes, seed = r.varint("chains"), r.varint("lanes"), r.varint("seed")
    proposal, discretizer = (
        r.name_code("proposal", "proposal"),
        r.name_code("discretizer", "discretizer"),
    )
    iterative = None
    if flags & FLAG_ITERATIVE:
        steps = r.varint("iterative steps")
        iterative = (steps, _F64.unpack(r.take(_F64.size, "iterative lr"))[0])
    model, latent_dim = r.name_code("model", "model plugin"), r.varint("latent_dim")
    identity = r.take(IDENTITY_BYTES, "the model identity")
    model_name = r.text("the model name", longest=MAX_MODEL_NAME)
    dtype, ndim = r.name_code("dtype", "input dtype"), r.u8("the image shape")
    if ndim > MAX_NDIM:
        raise ContainerError(
            f"{name}: image shape has {ndim} dimensions, at most {MAX_NDIM} are allowed"
        )
    shape = tuple(r.varint("the image shape") for _ in range(ndim))
    count, per_frame = r.varint("the image count"), r.varint("images per frame")
    if r.pos != len(body):
        raise ContainerError(
            f"{name} has a damaged header: {len(body) - r.pos} unexpected bytes at its end"
        )
    return Header(
        portable=bool(flags & FLAG_PORTABLE), coder=coder, num_particles=particles,
        lprec=precs[0], bprec=precs[1], log_num_bucket=precs[2], prior_mprec=precs[3],
        prop_mprec=precs[4], cond_mprec=precs[5], chains=chains, lanes=lanes, seed=seed,
        proposal=proposal, discretizer=discretizer, iterative=iterative, model=model,
        latent_dim=latent_dim, identity=bytes(identity), model_name=model_name, dtype=dtype,
        image_shape=shape, num_images=count, frame_images=per_frame,
        portable_format=2 if flags & FLAG_FORMAT2 else 1,
    )  # fmt: skip


def _check_magic(start: bytes, name: str) -> None:
    """Refuse format 1 with directions, anything else that is not ours with one line."""
    if start[: len(V1_MAGIC)] == V1_MAGIC:
        raise ContainerError(
            f"{name} was written in bitsback format 1 (releases before portable arithmetic); this "
            f"release reads format {FORMAT_VERSION}: decode it with bitsback at commit {LAST_V1_COMMIT}"
        )
    if len(start) < len(MAGIC) and start == MAGIC[: len(start)] and start:
        raise ContainerError(
            f"{name} is truncated ({len(start)} bytes, shorter than the file prefix)"
        )
    if start[: len(MAGIC)] != MAGIC:
        raise ContainerError(f"{name} is not a bitsback file (bad magic bytes)")


class FileReader:
    """Reads a file front to back from a binary stream: the header at once, frames one by one.

    ``size`` is the number of bytes the stream holds (None if unknown, e.g. a pipe): with
    it, counts and lengths that cannot fit are refused before anything is read. Payloads
    are read in pieces, so memory follows what the input really holds, never a length a
    header or frame claims. Every defect is one ContainerError naming ``name``.
    """

    def __init__(self, stream: BinaryIO, name: str = "input", size: int | None = None) -> None:
        self._stream, self.name = stream, name
        self._left = size
        self._read_bytes = 0
        self.header, self.header_crc = self._read_header()
        #: Bytes of prefix, header and header CRC.
        self.header_bytes = self._read_bytes

    def _read(self, size: int) -> bytes:
        pieces = []
        while size > 0:
            piece = self._stream.read(min(size, _READ_CHUNK))
            if not piece:
                break
            pieces.append(piece)
            size -= len(piece)
        data = b"".join(pieces)
        self._read_bytes += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def _read_header(self) -> tuple[Header, int]:
        name = self.name
        start = self._read(len(V1_MAGIC))
        _check_magic(start, name)
        if len(start) < len(MAGIC) + 3:
            raise ContainerError(
                f"{name} is truncated ({len(start)} bytes, shorter than the file prefix)"
            )
        version, flags = start[4], start[5]
        if version != FORMAT_VERSION:
            raise ContainerError(
                f"{name} has format version {version}; this release reads format {FORMAT_VERSION}"
            )
        if flags & ~_KNOWN_FLAGS:
            raise ContainerError(
                f"{name} sets unknown flags {flags & ~_KNOWN_FLAGS:#04x} (a newer format?)"
            )
        # The header length: a varint of one or two bytes (MAX_HEADER_BYTES < 2**14).
        length = start[6:]
        if length[0] & 0x80 and len(length) < 2:
            length += self._read(1)
        size, used = length[0] & 0x7F, 1
        if length[0] & 0x80:
            if len(length) < 2:
                raise ContainerError(
                    f"{name} is truncated ({self._read_bytes} bytes, shorter than the file prefix)"
                )
            if length[1] & 0x80 or length[1] == 0:
                raise ContainerError(
                    f"{name} has a damaged header: its length is not a valid varint below 2**14"
                )
            size, used = size | length[1] << 7, 2
        if not 1 <= size <= MAX_HEADER_BYTES:
            raise ContainerError(
                f"{name} has an invalid header: its length {size} is outside [1, {MAX_HEADER_BYTES}]"
            )
        prefix, early = start[:6] + length[:used], length[used:]
        body = early + self._read(size - len(early))
        crc = self._read(_CRC.size)
        if len(body) < size or len(crc) < _CRC.size:
            need = len(prefix) + size + _CRC.size
            raise ContainerError(
                f"{name} is truncated ({self._read_bytes} bytes; its header needs {need})"
            )
        header_crc = zlib.crc32(prefix + body)
        if header_crc != _CRC.unpack(crc)[0]:
            raise ContainerError(f"{name} is damaged: header checksum (CRC32) mismatch")
        header = _decode_body(body, flags, name)
        problem = header_problem(header)
        if problem:
            raise ContainerError(f"{name} has an invalid header: {problem}")
        return header, header_crc

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Each frame's ``(codec, payload)`` in order, checked; trailing bytes refused at the end."""
        name, header, count = self.name, self.header, self.header.num_frames
        if self._left is not None and self._left // FRAME_HEAD_BYTES < count:
            raise ContainerError(
                f"{name} is truncated: {self._left} bytes left for {count} frames of at least {FRAME_HEAD_BYTES}"
            )
        for index in range(count):
            head = self._read(FRAME_HEAD_BYTES)
            if len(head) < FRAME_HEAD_BYTES:
                raise ContainerError(f"{name} is truncated: frame {index} of {count} is missing")
            size, codec, crc = _FRAME.unpack(head)
            if self._left is not None and size > self._left:
                raise ContainerError(
                    f"{name} is truncated: frame {index} of {count} needs {size} bytes, {self._left} remain"
                )
            payload = self._read(size)
            if len(payload) < size:
                raise ContainerError(
                    f"{name} is truncated: frame {index} of {count} ends after {len(payload)} bytes"
                )
            if _frame_crc(self.header_crc, index, head[:5], payload) != crc:
                raise ContainerError(
                    f"{name} is damaged: frame {index} of {count} fails its checksum (CRC32)"
                )
            if codec not in FRAME_CODECS:
                raise ContainerError(
                    f"{name}: frame {index} of {count} has unknown codec {codec} (a newer release?)"
                )
            layout = header.frame_layout(index)
            table = LANE_TABLE_BYTES * layout.chains * layout.lanes
            if codec == CODEC_BITS_BACK and (size < table or (size - table) % 4):
                raise ContainerError(
                    f"{name} is damaged: frame {index} has {size} bytes, not a message of its layout"
                )
            yield codec, payload
        extra = self._read(_READ_CHUNK)
        if extra:
            left = len(extra) + (self._left or 0)
            raise ContainerError(f"{name} has {left} unexpected bytes after its last frame")


@attrs.frozen
class CompressedFile:
    """A parsed file: its validated header and each frame's payload and codec."""

    header: Header
    frames: tuple[bytes, ...]
    #: Each frame's codec byte (:data:`FRAME_CODECS`); all bits-back unless given.
    codecs: tuple[int, ...] = attrs.field()

    @codecs.default
    def _all_bits_back(self) -> tuple[int, ...]:
        return (CODEC_BITS_BACK,) * len(self.frames)

    def to_bytes(self, check: bool = True) -> bytes:
        """The file's bytes; ``check=False`` skips the limits (tests craft illegal files with it)."""
        if check and len(self.frames) != self.header.num_frames:
            raise ContainerError(
                f"{len(self.frames)} frames for a header that needs {self.header.num_frames}"
            )
        if len(self.codecs) != len(self.frames) or (
            check and any(c not in FRAME_CODECS for c in self.codecs)
        ):
            raise ContainerError(
                f"frame codecs {self.codecs[:8]} do not match {len(self.frames)} frames of known codecs"
            )
        head = self.header.to_bytes(check)
        crc = _CRC.unpack(head[-_CRC.size :])[0]
        frames = (
            encode_frame(crc, k, frame, codec)
            for k, (frame, codec) in enumerate(zip(self.frames, self.codecs))
        )
        return head + b"".join(frames)

    @property
    def overhead_bytes(self) -> int:
        """Bytes that are not payload: prefix, header, its CRC and 9 per frame."""
        return len(self.header.to_bytes()) + FRAME_HEAD_BYTES * len(self.frames)

    @classmethod
    def from_stream(
        cls, stream: BinaryIO, name: str = "input", size: int | None = None
    ) -> CompressedFile:
        """Parse and validate a whole file from ``stream`` (``size`` bytes, if known)."""
        reader = FileReader(stream, name, size)
        pairs = list(reader.frames())
        return cls(
            header=reader.header,
            frames=tuple(payload for _, payload in pairs),
            codecs=tuple(codec for codec, _ in pairs),
        )

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "input") -> CompressedFile:
        """Parse and validate ``data``; any defect is one ContainerError naming ``name``."""
        data = bytes(data)
        return cls.from_stream(io.BytesIO(data), name, len(data))

    @classmethod
    def read(cls, path: Path) -> CompressedFile:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        with open(path, "rb") as fh:
            return cls.from_stream(fh, str(path), os.fstat(fh.fileno()).st_size)


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
