"""The ``.bbz`` file, format 2: a compact binary header and independent, checksummed frames.

Layout (``docs/format.md`` has the byte table; little-endian, varint = unsigned LEB128)::

    prefix   b"\\x89BBZ"  u8 version (2)  u8 flags  u16 header length H
    header   H bytes: coder, precisions, layout, seed, names, model identity, images
    u32      CRC32 of prefix + header
    frames   one per ``frame_images`` images: u32 length, u32 CRC32, message bytes

Why this shape: format 1 stored the whole config as JSON with absolute local paths (about
1.2 KB, and it named files on the encoder's machine) and one message guarded by a
trailing SHA-256, so nothing could be checked or decoded before reading everything. Here
the header holds only what decoding needs, names the model by an identity rather than a
path, and every field is checked against hard limits before anything is allocated or
opened, so a crafted file is refused in milliseconds. Frames are independent messages
with their own CRC, so damage is located and a later change can decode frames in
parallel or decode a range.
"""

from __future__ import annotations

import math
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path

import attrs
import numpy as np

from bitsback_core.ans.message import mix64
from bitsback_core.compression.layout import ChainLayout
from bitsback_core.errors import BitsbackError

__all__ = [
    "DEFAULT_FRAME_IMAGES",
    "CompressedFile",
    "ContainerError",
    "FORMAT_VERSION",
    "Header",
    "frame_seed",
    "header_problem",
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
_KNOWN_FLAGS = FLAG_PORTABLE | FLAG_ITERATIVE
DEFAULT_FRAME_IMAGES = 10_000

_PREFIX = struct.Struct("<4sBBH")
_CRC = struct.Struct("<I")
_FRAME = struct.Struct("<II")
_F64 = struct.Struct("<d")
IDENTITY_BYTES = 32
#: Bytes per lane of a frame's lane table (u64 head, u32 stack length).
LANE_TABLE_BYTES = 12

# Hard limits, checked before anything is allocated (docs/format.md, "Limits").
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
    identity: bytes
    model_name: str
    dtype: str
    image_shape: tuple[int, ...]
    num_images: int
    frame_images: int = DEFAULT_FRAME_IMAGES

    @property
    def arithmetic(self) -> str:
        return "portable" if self.portable else "float"

    @property
    def identity_hex(self) -> str:
        return self.identity.hex()

    @property
    def flags(self) -> int:
        return (FLAG_PORTABLE if self.portable else 0) | (FLAG_ITERATIVE if self.iterative else 0)

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

    def to_bytes(self) -> bytes:
        """Prefix, header body and CRC32; raises ContainerError for a value out of the limits."""
        problem = header_problem(self)
        if problem:
            raise ContainerError(f"cannot write this header: {problem}")
        body = _encode_body(self)
        prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, self.flags, len(body))
        return prefix + body + _CRC.pack(zlib.crc32(prefix + body))


# --- writing -------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
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


def _encode_body(h: Header) -> bytes:
    """The header body, field by field in the order of docs/format.md."""
    parts = [
        _text(h.coder),
        _varint(h.num_particles),
        bytes([h.lprec, h.bprec, h.log_num_bucket, h.prior_mprec, h.prop_mprec, h.cond_mprec]),
        _varint(h.chains),
        _varint(h.lanes),
        _varint(h.seed),
        _text(h.proposal),
        _text(h.discretizer),
    ]
    if h.iterative is not None:
        parts += [_varint(h.iterative[0]), _F64.pack(h.iterative[1])]
    parts += [_text(h.model), _varint(h.latent_dim), h.identity, _text(h.model_name), _text(h.dtype)]
    parts += [bytes([len(h.image_shape)]), *(_varint(d) for d in h.image_shape)]
    parts += [_varint(h.num_images), _varint(h.frame_images)]
    return b"".join(parts)


# --- validation ----------------------------------------------------------------------------


def _name_problem(field: str, value: str, allow_empty: bool = False) -> str | None:
    if not value and not allow_empty:
        return f"{field} is empty"
    if len(value) > 255 or any(not " " <= c <= "~" for c in value):
        return f"{field} {value[:40]!r} is not printable ASCII of at most 255 characters"
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
        *(_range_problem(f, getattr(h, f), 1, top) for f in ("prior_mprec", "prop_mprec", "cond_mprec")),
        _range_problem(
            "log_num_bucket", h.log_num_bucket, 1, min(MAX_LOG_NUM_BUCKET, h.prior_mprec, h.prop_mprec)
        ),
    ]


def header_problem(h: Header) -> str | None:
    """The first field outside the format's limits (docs/format.md), or None if all are legal."""
    checks: list[str | None] = [
        *(_name_problem(f, getattr(h, f)) for f in ("coder", "proposal", "discretizer", "model")),
        _name_problem("model name", h.model_name, allow_empty=True),
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


class _Reader:
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

    def text(self, field: str) -> str:
        raw = self.take(self.u8(field), field)
        if any(not 0x20 <= b <= 0x7E for b in raw):
            raise ContainerError(f"{self.name} has a damaged header: {field} is not printable ASCII")
        return raw.decode("ascii")


def _decode_body(body: bytes, flags: int, name: str) -> Header:
    """Parse the header body (its CRC already checked); every field must be used exactly."""
    r = _Reader(body, name)
    coder, particles = r.text("the coder name"), r.varint("num_particles")
    precs = [r.u8(f) for f in ("lprec", "bprec", "log_num_bucket", "prior_mprec", "prop_mprec", "cond_mprec")]
    chains, lanes, seed = r.varint("chains"), r.varint("lanes"), r.varint("seed")
    proposal, discretizer = r.text("the proposal name"), r.text("the discretizer name")
    iterative = None
    if flags & FLAG_ITERATIVE:
        steps = r.varint("iterative steps")
        iterative = (steps, _F64.unpack(r.take(_F64.size, "iterative lr"))[0])
    model, latent_dim = r.text("the model plugin name"), r.varint("latent_dim")
    identity, model_name = r.take(IDENTITY_BYTES, "the model identity"), r.text("the model name")
    dtype, ndim = r.text("the input dtype"), r.u8("the image shape")
    if ndim > MAX_NDIM:
        raise ContainerError(f"{name}: image shape has {ndim} dimensions, at most {MAX_NDIM} are allowed")
    shape = tuple(r.varint("the image shape") for _ in range(ndim))
    count, per_frame = r.varint("the image count"), r.varint("images per frame")
    if r.pos != len(body):
        raise ContainerError(f"{name} has a damaged header: {len(body) - r.pos} unexpected bytes at its end")
    return Header(
        portable=bool(flags & FLAG_PORTABLE), coder=coder, num_particles=particles,
        lprec=precs[0], bprec=precs[1], log_num_bucket=precs[2], prior_mprec=precs[3],
        prop_mprec=precs[4], cond_mprec=precs[5], chains=chains, lanes=lanes, seed=seed,
        proposal=proposal, discretizer=discretizer, iterative=iterative, model=model,
        latent_dim=latent_dim, identity=bytes(identity), model_name=model_name, dtype=dtype,
        image_shape=shape, num_images=count, frame_images=per_frame,
    )  # fmt: skip


def _check_magic(data: bytes, name: str) -> None:
    """Refuse format 1 with directions, anything else that is not ours with one line."""
    if data[: len(V1_MAGIC)] == V1_MAGIC:
        raise ContainerError(
            f"{name} was written in bitsback format 1 (releases before portable arithmetic); this "
            f"release reads format {FORMAT_VERSION}: decode it with bitsback at commit {LAST_V1_COMMIT}"
        )
    if len(data) < len(MAGIC) and data == MAGIC[: len(data)] and data:
        raise ContainerError(f"{name} is truncated ({len(data)} bytes, shorter than the file prefix)")
    if data[: len(MAGIC)] != MAGIC:
        raise ContainerError(f"{name} is not a bitsback file (bad magic bytes)")


def _parse_header(data: bytes, name: str) -> tuple[Header, int]:
    """The validated header and the offset of the first frame."""
    _check_magic(data, name)
    if len(data) < _PREFIX.size:
        raise ContainerError(f"{name} is truncated ({len(data)} bytes, shorter than the file prefix)")
    _, version, flags, size = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ContainerError(f"{name} has format version {version}; this release reads format {FORMAT_VERSION}")
    if flags & ~_KNOWN_FLAGS:
        raise ContainerError(f"{name} sets unknown flags {flags & ~_KNOWN_FLAGS:#04x} (a newer format?)")
    end = _PREFIX.size + size
    if len(data) < end + _CRC.size:
        raise ContainerError(f"{name} is truncated ({len(data)} bytes; its header needs {end + _CRC.size})")
    if zlib.crc32(data[:end]) != _CRC.unpack_from(data, end)[0]:
        raise ContainerError(f"{name} is damaged: header checksum (CRC32) mismatch")
    header = _decode_body(data[_PREFIX.size : end], flags, name)
    problem = header_problem(header)
    if problem:
        raise ContainerError(f"{name} has an invalid header: {problem}")
    return header, end + _CRC.size


def _parse_frames(data: bytes, offset: int, header: Header, name: str) -> tuple[bytes, ...]:
    """Every frame's message bytes, lengths and CRCs checked; trailing bytes refused."""
    count = header.num_frames
    if (len(data) - offset) // _FRAME.size < count:
        raise ContainerError(
            f"{name} is truncated: {len(data) - offset} bytes left for {count} frames of at least {_FRAME.size}"
        )
    frames = []
    for index in range(count):
        if len(data) - offset < _FRAME.size:
            raise ContainerError(f"{name} is truncated: frame {index} of {count} is missing")
        size, crc = _FRAME.unpack_from(data, offset)
        offset += _FRAME.size
        if size > len(data) - offset:
            raise ContainerError(
                f"{name} is truncated: frame {index} of {count} needs {size} bytes, {len(data) - offset} remain"
            )
        layout = header.frame_layout(index)
        table = LANE_TABLE_BYTES * layout.chains * layout.lanes
        if size < table or (size - table) % 4:
            raise ContainerError(f"{name} is damaged: frame {index} has {size} bytes, not a message of its layout")
        message = data[offset : offset + size]
        if zlib.crc32(message) != crc:
            raise ContainerError(f"{name} is damaged: frame {index} of {count} fails its checksum (CRC32)")
        frames.append(bytes(message))
        offset += size
    if offset != len(data):
        raise ContainerError(f"{name} has {len(data) - offset} unexpected bytes after its last frame")
    return tuple(frames)


@attrs.frozen
class CompressedFile:
    """A parsed file: its validated header and each frame's message bytes."""

    header: Header
    frames: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        if len(self.frames) != self.header.num_frames:
            raise ContainerError(f"{len(self.frames)} frames for a header that needs {self.header.num_frames}")
        out = [self.header.to_bytes()]
        for frame in self.frames:
            out += [_FRAME.pack(len(frame), zlib.crc32(frame)), frame]
        return b"".join(out)

    @property
    def overhead_bytes(self) -> int:
        """Bytes that are not message bytes: prefix, header, its CRC and 8 per frame."""
        return len(self.header.to_bytes()) + _FRAME.size * len(self.frames)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "input") -> CompressedFile:
        """Parse and validate ``data``; any defect is one ContainerError naming ``name``."""
        data = bytes(data)
        header, offset = _parse_header(data, name)
        return cls(header=header, frames=_parse_frames(data, offset, header, name))

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
