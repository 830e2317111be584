"""The ``.bbz`` container, format 2: byte layout, limits, damage detection, no-clobber writes.

The byte layout is specified in docs/format.md; :func:`spec_file` below writes it
independently of the implementation (struct, zlib and a hand-written LEB128), so the
documented table and the code are checked against each other.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import attrs
import pytest

from bitsback_core.compression import container as container_module
from bitsback_core.compression.container import (
    DEFAULT_FRAME_IMAGES,
    FORMAT_VERSION,
    FRAME_CODECS,
    FRAME_HEAD_BYTES,
    CompressedFile,
    ContainerError,
    FileReader,
    Header,
    encode_frame,
    frame_seed,
    header_problem,
    identity_prefix,
    write_new_file,
)
from bitsback_core.errors import BitsbackError

IDENTITY = bytes(range(16))


def make_header(**changes: Any) -> Header:
    """A small legal header: 5 images of (28, 28) uint8, 2 per frame, 2 chains x 3 lanes."""
    values: dict[str, Any] = dict(
        portable=True, coder="BitsBackCoder", num_particles=1, lprec=32, bprec=32,
        log_num_bucket=8, prior_mprec=8, prop_mprec=16, cond_mprec=16, chains=2, lanes=3,
        seed=42, proposal="amortized", discretizer="max_entropy", iterative=None,
        model="BinaryVAE", latent_dim=50, identity=IDENTITY, model_name="mnist-elbo",
        dtype="|u1", image_shape=(28, 28), num_images=5, frame_images=2,
    )  # fmt: skip
    values.update(changes)
    return Header(**values)


def frames_for(header: Header, words: int = 3) -> tuple[bytes, ...]:
    """Frames of the right size for each frame's layout (lane table plus ``words`` words)."""
    sizes = [
        12 * header.frame_layout(k).chains * header.lanes + 4 * words
        for k in range(header.num_frames)
    ]
    return tuple(bytes((k + i) % 251 for i in range(size)) for k, size in enumerate(sizes))


# --- an independent writer of the documented layout -----------------------------------------

#: docs/format.md, "Name codes", copied by hand: code k is the k-th name of its row.
CODES = {
    "coder": {"BitsBackCoder": 1, "ISBitsBackCoder": 2, "CISBitsBackCoder": 3, "StochasticCoder": 4},
    "proposal": {"amortized": 1, "iterative": 2},
    "discretizer": {"max_entropy": 1},
    "model": {"BinaryVAE": 1},
    "dtype": {
        "|b1": 1, "|u1": 2, "|i1": 3, "<u2": 4, "<u4": 5, "<u8": 6, "<i2": 7, "<i4": 8, "<i8": 9,
        ">u2": 10, ">u4": 11, ">u8": 12, ">i2": 13, ">i4": 14, ">i8": 15,
    },
}  # fmt: skip


def leb128(value: int) -> bytes:
    out = b""
    while value >= 0x80:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])


def text(value: str) -> bytes:
    return bytes([len(value)]) + value.encode("ascii")


def code(kind: str, value: str) -> bytes:
    return bytes([CODES[kind][value]]) if value in CODES[kind] else b"\0" + text(value)


def spec_body(f: dict[str, Any]) -> bytes:
    """The header body exactly as docs/format.md lists it, from a dict of fields."""
    body = code("coder", f["coder"]) + leb128(f["num_particles"])
    body += bytes(
        [
            f[k]
            for k in ("lprec", "bprec", "log_num_bucket", "prior_mprec", "prop_mprec", "cond_mprec")
        ]
    )
    body += leb128(f["chains"]) + leb128(f["lanes"]) + leb128(f["seed"])
    body += code("proposal", f["proposal"]) + code("discretizer", f["discretizer"])
    if f["iterative"] is not None:
        body += leb128(f["iterative"][0]) + struct.pack("<d", f["iterative"][1])
    body += (
        code("model", f["model"]) + leb128(f["latent_dim"]) + f["identity"] + text(f["model_name"])
    )
    body += code("dtype", f["dtype"]) + bytes([len(f["image_shape"])])
    body += b"".join(leb128(d) for d in f["image_shape"])
    return body + leb128(f["num_images"]) + leb128(f["frame_images"])


def spec_frame(header_crc: int, index: int, payload: bytes, codec: int = 0) -> bytes:
    """u32 length, u8 codec, u32 CRC32 of (u64 index, length, codec, payload) started from the header's CRC."""
    head = struct.pack("<IB", len(payload), codec)
    crc = zlib.crc32(struct.pack("<Q", index) + head + payload, header_crc)
    return head + struct.pack("<I", crc) + payload


def spec_file(
    fields: dict[str, Any],
    frames: tuple[bytes, ...] = (),
    flags: int | None = None,
    codecs: tuple[int, ...] = (),
) -> bytes:
    """Prefix, body, CRC32 and frames; ``flags`` overrides the ones the fields imply."""
    body = spec_body(fields)
    if flags is None:
        flags = int(fields["portable"]) | (2 if fields["iterative"] is not None else 0)
        flags |= 4 if fields["portable_format"] == 2 else 0
    prefix = b"\x89BBZ" + bytes([2, flags]) + leb128(len(body))
    header_crc = zlib.crc32(prefix + body)
    out = prefix + body + struct.pack("<I", header_crc)
    codecs = codecs or (0,) * len(frames)
    return out + b"".join(
        spec_frame(header_crc, k, f, c) for k, (f, c) in enumerate(zip(frames, codecs))
    )


def fields(**changes: Any) -> dict[str, Any]:
    return attrs.asdict(make_header(**changes), recurse=False)


# --- layout ----------------------------------------------------------------------------------


def test_round_trip_and_the_documented_layout() -> None:
    header = make_header()
    frames = frames_for(header)
    data = CompressedFile(header=header, frames=frames).to_bytes()
    assert data == spec_file(fields(), frames)
    assert data[:4] == b"\x89BBZ" and data[4] == FORMAT_VERSION == 2 and data[5] == 0x01
    parsed = CompressedFile.from_bytes(data)
    assert parsed == CompressedFile(header=header, frames=frames)
    assert parsed.overhead_bytes == len(data) - sum(len(f) for f in frames)
    assert parsed.overhead_bytes == len(header.to_bytes()) + 9 * 3
    assert parsed.codecs == (0, 0, 0)


@pytest.mark.parametrize(
    "changes",
    [
        dict(portable=False, iterative=(50, 0.01)),
        dict(iterative=(0, 1.0), seed=2**64 - 1, num_images=1, chains=1, frame_images=10_000),
        dict(dtype="|b1", image_shape=(784,), model_name=""),
        dict(dtype=">i8", image_shape=(1, 2, 2, 1, 2, 1, 49, 2), num_particles=2**16),
        dict(
            coder="MyCoder",
            proposal="my proposal",
            discretizer="d" * 255,
            model="MyVAE",
            model_name="m" * 32,
        ),
        dict(coder="CISBitsBackCoder", proposal="iterative", iterative=(3, 0.5), dtype="<i2"),
    ],
)
def test_every_field_round_trips(changes: dict[str, Any]) -> None:
    header = make_header(**changes)
    data = CompressedFile(header=header, frames=frames_for(header)).to_bytes()
    assert data == spec_file(fields(**changes), frames_for(header))
    assert CompressedFile.from_bytes(data).header == header
    assert data[5] == (0x01 if header.portable else 0) | (0x02 if header.iterative else 0)


def test_frames_split_the_images_and_clip_the_chains() -> None:
    header = make_header(num_images=25, frame_images=10, chains=4, lanes=2)
    assert header.num_frames == 3
    assert [header.frame_slice(k) for k in range(3)] == [slice(0, 10), slice(10, 20), slice(20, 25)]
    assert [
        (header.frame_layout(k).num_items, header.frame_layout(k).chains) for k in range(3)
    ] == [(10, 4), (10, 4), (5, 4)]
    small = make_header(num_images=7, frame_images=3, chains=3, lanes=1)
    assert [small.frame_layout(k).chains for k in range(3)] == [3, 3, 1]
    assert DEFAULT_FRAME_IMAGES == 10_000 and make_header(frame_images=10_000).num_frames == 1


def _python_mix64(x: int) -> int:
    mask = (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


def test_frame_seeds() -> None:
    """Frame 0 uses the file seed; frame k XORs in splitmix64's k-th output from state 0."""
    assert frame_seed(42, 0) == 42 and make_header(seed=7).frame_seed(0) == 7
    for seed in (0, 42, 2**64 - 1):
        for k in (1, 2, 1000):
            assert frame_seed(seed, k) == seed ^ _python_mix64((k * 0x9E3779B97F4A7C15) % 2**64)
    assert len({frame_seed(42, k) for k in range(1000)}) == 1000
    assert all(0 <= frame_seed(2**64 - 1, k) < 2**64 for k in range(100))


# --- refusals --------------------------------------------------------------------------------


@pytest.fixture
def data() -> bytes:
    header = make_header()
    return CompressedFile(header=header, frames=frames_for(header)).to_bytes()


def test_not_a_bitsback_file(data: bytes) -> None:
    for other in (b"", b"PK\x03\x04" + data[4:], b"\x93NUMPY" + b"\0" * 100):
        with pytest.raises(ContainerError, match="f.bbz is not a bitsback file"):
            CompressedFile.from_bytes(other, name="f.bbz")


def test_format_1_is_refused_with_directions() -> None:
    v1 = b"BITSBACK" + struct.pack("<HI", 1, 2) + b"{}" + struct.pack("<Q", 0) + b"\0" * 32
    with pytest.raises(ContainerError) as info:
        CompressedFile.from_bytes(v1, name="old.bbz")
    message = str(info.value)
    assert message == (
        "old.bbz was written in bitsback format 1 (releases before portable arithmetic); this "
        "release reads format 2: decode it with bitsback at commit 46f0c26"
    )


def test_other_versions_and_unknown_flags_are_refused(data: bytes) -> None:
    newer = bytearray(data)
    newer[4] = 3
    with pytest.raises(ContainerError, match="format version 3; this release reads format 2"):
        CompressedFile.from_bytes(bytes(newer))
    with pytest.raises(ContainerError, match="unknown flags 0x08"):
        CompressedFile.from_bytes(spec_file(fields(), flags=0x09))


def test_flag_bit_2_names_portable_model_format_2() -> None:
    """Format 2 sets bit 2; without it a portable file is format 1 (every earlier file)."""
    for version in (1, 2):
        header = make_header(portable_format=version)
        data = CompressedFile(header=header, frames=frames_for(header)).to_bytes()
        assert data[5] == (0x05 if version == 2 else 0x01)
        assert data == spec_file(fields(portable_format=version), frames_for(header))
        assert CompressedFile.from_bytes(data).header.portable_format == version
    with pytest.raises(ContainerError, match="format 2 is not one a header can name.*float"):
        CompressedFile.from_bytes(spec_file(fields(portable=False), flags=0x04))
    with pytest.raises(ContainerError, match="cannot write this header: portable model format 3"):
        make_header(portable_format=3).to_bytes()


def test_header_damage_fails_its_checksum(data: bytes) -> None:
    damaged = bytearray(data)
    damaged[20] ^= 0x10
    with pytest.raises(ContainerError, match="header checksum"):
        CompressedFile.from_bytes(bytes(damaged))


def test_frame_damage_names_the_frame(data: bytes) -> None:
    header = make_header()
    frames = frames_for(header)
    offset = len(header.to_bytes()) + 9 + len(frames[0]) + 9 + 5  # inside frame 1's message
    damaged = bytearray(data)
    damaged[offset] ^= 0x01
    with pytest.raises(ContainerError, match="frame 1 of 3 fails its checksum"):
        CompressedFile.from_bytes(bytes(damaged))


def test_every_truncation_is_refused(data: bytes) -> None:
    for keep in range(len(data)):
        with pytest.raises(ContainerError):
            CompressedFile.from_bytes(data[:keep], name="cut.bbz")


def test_every_single_bit_flip_is_refused(data: bytes) -> None:
    """CRC32 detects every single-bit error, so no flip reaches a decoder."""
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ContainerError):
            CompressedFile.from_bytes(bytes(flipped))


def test_trailing_bytes_and_wrong_frame_sizes_are_refused(data: bytes) -> None:
    with pytest.raises(ContainerError, match="4 unexpected bytes after its last frame"):
        CompressedFile.from_bytes(data + b"\0\0\0\0")
    header = make_header()
    short = (b"x" * 12,) + frames_for(header)[1:]  # less than frame 0's lane table
    with pytest.raises(ContainerError, match="frame 0 has 12 bytes, not a message of its layout"):
        CompressedFile.from_bytes(spec_file(fields(), short))


# Crafted headers: legal bytes and a valid CRC, values beyond the limits. Each must be
# refused by the parser (before any model is looked up or any frame decoded) without
# allocating what the header claims: tracemalloc's peak stays far below the claimed sizes.
CRAFTED = [
    (dict(num_images=2**41), "image count"),
    (dict(num_images=2**40, frame_images=1, chains=1), "truncated"),  # 2**40 frames, no bytes
    (dict(chains=2**11, lanes=2**10, num_images=2**12, frame_images=2**12), "lanes"),
    (dict(chains=2**30, num_images=2**31, frame_images=2**24), "chains"),
    (dict(chains=6), "chains 6 is outside"),
    (dict(iterative=(10**9, 0.01)), "iterative steps"),
    (dict(iterative=(5, 0.0)), "iterative lr"),
    (dict(iterative=(5, float("nan"))), "iterative lr"),
    (dict(iterative=(5, 2.0)), "iterative lr"),
    (dict(num_particles=2**16 + 1), "num_particles"),
    (dict(num_particles=0), "num_particles"),
    (dict(lprec=40, bprec=32), "lprec"),
    (dict(bprec=0), "bprec"),
    (dict(cond_mprec=33), "cond_mprec"),
    (dict(prop_mprec=31), "prop_mprec"),  # portable arithmetic codes at most 30 bits
    (dict(log_num_bucket=17, prior_mprec=20, prop_mprec=20), "log_num_bucket"),
    (dict(log_num_bucket=9), "log_num_bucket"),  # more buckets than the prior's 2**8 counts
    (dict(latent_dim=2**17), "latent_dim"),
    (dict(dtype="<f8"), "dtype"),
    (dict(dtype="|O"), "dtype"),
    (dict(image_shape=(0, 784)), "image shape"),
    (dict(image_shape=(2**13, 2**13)), "image shape"),
    (dict(image_shape=()), "image shape"),
    (dict(frame_images=0), "images per frame"),
    (dict(frame_images=2**25), "images per frame"),
    (dict(coder=""), "coder is empty"),
    (dict(model="Binary\x07VAE"), "printable ASCII"),
    (dict(model_name="caf\x7f"), "printable ASCII"),
    (dict(model_name="m" * 33), "model name has 33 characters, at most 32"),
    (
        dict(model_name="../../etc/passwd"),
        "image count",
    ),  # a path is only a label: nothing opens it
    (
        dict(identity=bytes(32)),
        "ends inside|unexpected bytes|not a valid|invalid header|damaged header",
    ),
]


@pytest.mark.parametrize("changes, match", CRAFTED)
def test_crafted_headers_are_refused_fast(changes: dict[str, Any], match: str) -> None:
    crafted = fields(**changes)
    if "model_name" in changes and changes["model_name"].startswith(".."):
        crafted["num_images"] = 2**41  # a legal path-like label, then a count over the limit
    data = spec_file(crafted, frames_for(make_header()) if "num_images" not in changes else ())
    tracemalloc.start()
    try:
        with pytest.raises(ContainerError, match=match) as info:
            CompressedFile.from_bytes(data, name="evil.bbz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"parsing a crafted header allocated {peak} bytes"
    assert str(info.value).startswith("evil.bbz") and "\n" not in str(info.value)


def test_header_problem_is_what_writing_refuses() -> None:
    assert header_problem(make_header()) is None
    bad = make_header(seed=-1)
    assert "seed -1" in (header_problem(bad) or "")
    with pytest.raises(ContainerError, match="seed"):
        bad.to_bytes()


@pytest.mark.parametrize(
    "patch, match",
    [
        (lambda body: body[:-1], "ends inside images per frame"),
        (lambda body: body + b"\0", "1 unexpected bytes"),
        (lambda body: body[:-1] + b"\x82\x00", "not a valid varint"),  # overlong encoding
        (lambda body: body[:-1] + b"\xff" * 10 + b"\x01", "not a valid varint"),
        (lambda body: body.replace(b"\x02\x1c\x1c", b"\x09\x1c\x1c"), "9 dimensions"),
    ],
)
def test_malformed_header_bodies(patch: Any, match: str) -> None:
    body = patch(spec_body(fields()))
    prefix = b"\x89BBZ" + bytes([2, 1]) + leb128(len(body))
    data = prefix + body + struct.pack("<I", zlib.crc32(prefix + body))
    with pytest.raises(ContainerError, match=match):
        CompressedFile.from_bytes(data)


def test_container_error_is_a_bitsback_error() -> None:
    assert issubclass(ContainerError, BitsbackError) and issubclass(ContainerError, ValueError)


def test_read(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.bbz"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CompressedFile.read(tmp_path / "missing.bbz")
    path.write_bytes(data)
    assert CompressedFile.read(path).header == make_header()
    assert math.prod(make_header().image_shape) == 784


# --- write_new_file ------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_new_file_creates_the_file(tmp_path: Path) -> None:
    write_new_file(tmp_path / "out.bbz", b"abc")
    assert (tmp_path / "out.bbz").read_bytes() == b"abc"
    assert _leftovers(tmp_path) == ["out.bbz"]  # no temp file left behind


def test_write_new_file_never_clobbers_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "out.bbz"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="--force"):
        write_new_file(path, b"new")
    assert path.read_bytes() == b"old"
    write_new_file(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    assert _leftovers(tmp_path) == ["out.bbz"]


def test_write_new_file_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="directory"):
        write_new_file(tmp_path / "no" / "out.bbz", b"abc")
    assert _leftovers(tmp_path) == []


def test_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.bbz"
    path.write_bytes(b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(container_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_new_file(path, b"new", overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["out.bbz"]


def test_written_file_is_complete_before_it_appears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final name only ever points at a fully written file (rename is the last step)."""
    path = tmp_path / "out.bbz"
    seen: list[bytes] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        assert not path.exists()
        seen.append(Path(src).read_bytes())
        real_replace(src, dst)

    monkeypatch.setattr(container_module.os, "replace", spy)
    write_new_file(path, b"payload")
    assert seen == [b"payload"] and path.read_bytes() == b"payload"


# --- the compact header: codes, identity prefix, sizes ------------------------------------


def test_built_in_names_take_one_byte_and_others_are_spelled_out() -> None:
    plain = len(make_header().to_bytes())
    assert len(make_header(coder="MyCoder").to_bytes()) == plain + 1 + len("MyCoder")
    assert len(make_header(model_name="").to_bytes()) == plain - len("mnist-elbo")
    assert container_module.NAME_CODES["dtype"] == tuple(
        CODES["dtype"]
    )  # every legal dtype has a code
    for kind, names in CODES.items():
        assert container_module.NAME_CODES[kind] == tuple(names), kind


@pytest.mark.parametrize(
    "old, new, match",
    [
        (
            b"\x01\x01\x01\x32",
            b"\x01\x01\x09\x32",
            "unknown model plugin code 9",
        ),  # proposal, discretizer, model
        (
            b"\x01\x01\x01\x32",
            b"\x01\x00\x0bmax_entropy\x01\x32",
            "'max_entropy' is spelled out but has a code",
        ),
        (b"\x02\x02\x1c\x1c", b"\x10\x02\x1c\x1c", "unknown input dtype code 16"),
        (b"\x0amnist-elbo", b"\x21" + b"m" * 33, "model name has 33 characters, at most 32"),
    ],
)
def test_unknown_codes_and_non_canonical_names_are_refused(
    old: bytes, new: bytes, match: str
) -> None:
    body = spec_body(fields())
    assert body.count(old) == 1
    body = body.replace(old, new)
    prefix = b"\x89BBZ" + bytes([2, 1]) + leb128(len(body))
    data = prefix + body + struct.pack("<I", zlib.crc32(prefix + body))
    with pytest.raises(ContainerError, match=match):
        CompressedFile.from_bytes(data)


@pytest.mark.parametrize(
    "length, match",
    [
        (b"\x00", "length 0 is outside"),
        (b"\x81\x10", "length 2049"),
        (b"\x80\x00", "not a valid varint"),
        (b"\x80\x80", "not a valid varint"),
    ],
)
def test_header_lengths_beyond_the_limit_are_refused(length: bytes, match: str) -> None:
    with pytest.raises(ContainerError, match=match):
        CompressedFile.from_bytes(b"\x89BBZ\x02\x01" + length + b"\0" * 3000)


def test_identity_is_a_128_bit_prefix_of_the_digest() -> None:
    digest = hashlib.sha256(b"model").hexdigest()
    header = make_header(identity=identity_prefix(digest))
    assert header.identity == bytes.fromhex(digest)[:16] and header.identity_hex == digest[:32]
    assert header.identity_matches(digest) and header.identity_matches(digest.upper())
    assert not header.identity_matches(hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ValueError, match="at least 16 bytes"):
        identity_prefix("ab" * 15)
    assert "model identity has 32 bytes" in (header_problem(make_header(identity=bytes(32))) or "")


def test_a_default_header_fits_the_size_target() -> None:
    """Default settings, a shipped model's catalogue name, 300 images: at most 64 bytes per file
    (prefix, header, CRC) and 9 per frame, whatever the 32-character name."""
    header = make_header(
        num_images=300,
        frame_images=DEFAULT_FRAME_IMAGES,
        chains=1,
        lanes=1,
        model_name="mnist-iwae50",
    )
    assert len(header.to_bytes()) <= 64
    assert len(make_header(model_name="m" * 32).to_bytes()) <= 64 + 32
    assert FRAME_HEAD_BYTES == 9


# --- frames: codecs, binding to their file and position, streaming --------------------------


def test_frame_codecs_round_trip_and_are_checked(data: bytes) -> None:
    header = make_header()
    frames = frames_for(header)
    written = CompressedFile(header=header, frames=frames, codecs=(0, 1, 2)).to_bytes()
    assert written == spec_file(fields(), frames, codecs=(0, 1, 2))
    parsed = CompressedFile.from_bytes(written)
    assert parsed.codecs == (0, 1, 2) and parsed.frames == frames
    assert {0, 1, 2, 3} == set(FRAME_CODECS)
    with pytest.raises(ContainerError, match="frame 1 of 3 has unknown codec 4"):
        CompressedFile.from_bytes(spec_file(fields(), frames, codecs=(0, 4, 0)))
    with pytest.raises(ContainerError, match="codecs"):
        CompressedFile(header=header, frames=frames, codecs=(0, 7, 0)).to_bytes()
    # A frame of another codec need not hold a message's lane table.
    tiny = (b"z",) * 3
    assert CompressedFile.from_bytes(spec_file(fields(), tiny, codecs=(1, 2, 1))).frames == tiny
    with pytest.raises(ContainerError, match="not a message of its layout"):
        CompressedFile.from_bytes(spec_file(fields(), tiny, codecs=(1, 0, 1)))


def test_frames_only_check_out_in_their_own_file_and_position() -> None:
    header = make_header()
    frames = frames_for(header)
    swapped = (frames[1], frames[0], frames[2])
    head = header.to_bytes()
    crc = header.checksum()
    assert crc == struct.unpack("<I", head[-4:])[0]
    # Frame records moved to another position of the same file: refused before decoding.
    records = [encode_frame(crc, k, f) for k, f in enumerate(frames)]
    with pytest.raises(ContainerError, match="frame 0 of 3 fails its checksum"):
        CompressedFile.from_bytes(head + records[1] + records[0] + records[2])
    assert CompressedFile.from_bytes(head + b"".join(records)).frames == frames
    assert (
        CompressedFile.from_bytes(spec_file(fields(), swapped)).frames == swapped
    )  # rewritten: fine
    # A frame record from a file with another header (here only the seed differs).
    other = make_header(seed=43)
    foreign = encode_frame(other.checksum(), 0, frames[0])
    with pytest.raises(ContainerError, match="frame 0 of 3 fails its checksum"):
        CompressedFile.from_bytes(head + foreign + b"".join(records[1:]))


class _Pipe(io.RawIOBase):
    """A non-seekable stream that hands out at most 7 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 7, len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


def test_file_reader_reads_a_stream_frame_by_frame(data: bytes) -> None:
    reader = FileReader(_Pipe(data), "pipe")  # type: ignore[arg-type]
    assert reader.header == make_header() and reader.header_bytes == len(make_header().to_bytes())
    frames = reader.frames()
    assert next(frames) == (0, frames_for(make_header())[0])
    assert [payload for _, payload in frames] == list(frames_for(make_header())[1:])
    for cut in (data[:-1], data[: len(data) // 2], data + b"x"):
        with pytest.raises(ContainerError, match="truncated|unexpected bytes"):
            list(FileReader(_Pipe(cut), "pipe").frames())  # type: ignore[arg-type]


def test_a_huge_frame_length_allocates_only_what_the_input_holds() -> None:
    header = make_header(num_images=1, chains=1, frame_images=1)
    crafted = header.to_bytes() + struct.pack("<IBI", 2**32 - 1, 0, 0) + b"\0" * 100
    tracemalloc.start()
    try:
        with pytest.raises(ContainerError, match="truncated"):
            list(FileReader(_Pipe(crafted), "pipe").frames())  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
