"""Reading and writing IDX files (the MNIST / EMNIST container format).

An IDX file is a 4-byte big-endian magic number (``0x00 0x00 <dtype> <ndim>``), then
``ndim`` big-endian uint32 dimension sizes, then the raw data.  Only the two layouts the
image sets use are supported: uint8 images (magic 2051, ``n x rows x cols``) and uint8
labels (magic 2049, ``n``).  Files may be gzip-compressed or plain; gzip is detected by
its magic bytes rather than the file suffix, because people do ``gunzip`` files and keep
the names.

Every header is validated against the actual byte length: the project uses subsets of
the official files, so the only trustworthy count is the one in the header, and a file
whose data does not match it is reported instead of silently reshaped.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "IdxFormatError",
    "IdxHeader",
    "read_idx_header",
    "read_idx_images",
    "read_idx_labels",
    "write_idx_images",
    "write_idx_labels",
]

#: Magic of a uint8 3-d array (``0x00000803``): images ``n x rows x cols``.
IMAGES_MAGIC = 2051
#: Magic of a uint8 1-d array (``0x00000801``): labels ``n``.
LABELS_MAGIC = 2049

_GZIP_MAGIC = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "IDX images", LABELS_MAGIC: "IDX labels"}
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_NOUN = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


class IdxFormatError(ValueError):
    """An IDX file is malformed: wrong magic, impossible dimensions, or wrong length."""


@dataclass(frozen=True)
class IdxHeader:
    """The decoded header of an IDX file: its magic and its dimension sizes."""

    magic: int
    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        """Number of items (images or labels): the first dimension."""
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        """Byte length of the data that must follow the header (uint8 items)."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def header_size(self) -> int:
        """Byte length of the header itself: magic plus one uint32 per dimension."""
        return 4 + 4 * len(self.shape)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: Path) -> BinaryIO:
    """Open ``path`` for reading, transparently decompressing gzip."""
    if _is_gzip(path):
        # typeshed's GzipFile does not derive from BinaryIO, though it offers all of it.
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _parse_header(head: bytes, path: Path, expected_magic: int) -> IdxHeader:
    """Decode and validate a header from its leading bytes (at least the full header)."""
    kind = _KIND[expected_magic]
    if len(head) < 4:
        raise IdxFormatError(
            f"{path} is truncated: only {len(head)} bytes, too short for an {kind} header"
        )
    (magic,) = struct.unpack(">I", head[:4])
    if magic != expected_magic:
        hint = ""
        if magic in _KIND:
            hint = f" (that is the magic of {_KIND[magic]}; images and labels swapped?)"
        raise IdxFormatError(
            f"bad magic 0x{magic:08x} in {path}: expected {expected_magic} ({kind}){hint}"
        )
    ndim = _NDIM[expected_magic]
    size = 4 + 4 * ndim
    if len(head) < size:
        raise IdxFormatError(
            f"{path} is truncated: header needs {size} bytes, file holds {len(head)}"
        )
    shape = struct.unpack(f">{ndim}I", head[4:size])
    if expected_magic == IMAGES_MAGIC and (shape[1] == 0 or shape[2] == 0):
        raise IdxFormatError(f"{path}: header gives an empty image size {shape[1]}x{shape[2]}")
    return IdxHeader(magic=magic, shape=tuple(int(s) for s in shape))


def read_idx_header(path: str | Path, expected_magic: int) -> IdxHeader:
    """Read and validate only the header of ``path`` (cheap even for large gzip files).

    This does not check the data length; :func:`read_idx_images` and
    :func:`read_idx_labels` do.
    """
    path = Path(path)
    if expected_magic not in _KIND:
        raise ValueError(
            f"expected_magic must be {IMAGES_MAGIC} or {LABELS_MAGIC}, got {expected_magic}"
        )
    try:
        with _open(path) as f:
            head = f.read(4 + 4 * _NDIM[expected_magic])
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise IdxFormatError(f"{path} is not a readable gzip file: {exc}") from exc
    return _parse_header(head, path, expected_magic)


def _read_all(path: Path) -> bytes:
    try:
        with _open(path) as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise IdxFormatError(f"{path} is not a readable gzip file: {exc}") from exc


def _read_array(path: str | Path, expected_magic: int) -> np.ndarray:
    path = Path(path)
    raw = _read_all(path)
    header = _parse_header(raw, path, expected_magic)
    payload = len(raw) - header.header_size
    noun = _NOUN[expected_magic]
    if payload != header.nbytes:
        item = header.nbytes // header.count if header.count else 1
        if payload < header.nbytes:
            raise IdxFormatError(
                f"{path} is truncated: header says {header.count} {noun}, data holds "
                f"{payload // item} ({payload} of {header.nbytes} bytes)"
            )
        raise IdxFormatError(
            f"{path} has {payload - header.nbytes} unexpected bytes after the "
            f"{header.count} {noun} its header declares"
        )
    # frombuffer over the immutable bytes: no copy, and the result is read-only.
    return np.frombuffer(raw, dtype=np.uint8, offset=header.header_size).reshape(header.shape)


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX images file: read-only uint8 array of shape ``(n, rows, cols)``.

    Pixels are returned in file order; EMNIST callers must transpose each image.
    """
    return _read_array(path, IMAGES_MAGIC)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX labels file: read-only uint8 array of shape ``(n,)``."""
    return _read_array(path, LABELS_MAGIC)


def _write(path: Path, magic: int, array: np.ndarray, compress: bool | None) -> None:
    if compress is None:
        compress = path.suffix == ".gz"
    body = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    if compress:
        # mtime=0 keeps the bytes reproducible (fixtures with a known checksum).
        body = gzip.compress(body, mtime=0)
    path.write_bytes(body)


def _as_uint8(array: np.ndarray, ndim: int, what: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions, got shape {a.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.integer) or (a.size and (a.min() < 0 or a.max() > 255)):
            raise ValueError(f"{what} must hold integers 0..255, got dtype {a.dtype}")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def write_idx_images(path: str | Path, images: np.ndarray, *, compress: bool | None = None) -> None:
    """Write uint8 images ``(n, rows, cols)`` as an IDX file, in the given pixel order.

    ``compress`` defaults to gzip when the name ends in ``.gz``.  Used to build fixtures;
    to write an EMNIST-style file, pass the images already transposed.
    """
    _write(Path(path), IMAGES_MAGIC, _as_uint8(images, 3, "images"), compress)


def write_idx_labels(path: str | Path, labels: np.ndarray, *, compress: bool | None = None) -> None:
    """Write uint8 labels ``(n,)`` as an IDX file (gzip when the name ends in ``.gz``)."""
    _write(Path(path), LABELS_MAGIC, _as_uint8(labels, 1, "labels"), compress)
