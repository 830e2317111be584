"""Fuzzing the reader: damaged, truncated, spliced and foreign variants of the golden files.

Every variant is refused cleanly: a one-line :class:`ContainerError` that names the file
from the library parser, and through the command line (``bitsback decompress FILE -o
OUT``) a non-zero exit, exactly one line on stderr, no traceback and no output file. None
decodes to other images. The variants come from a seeded generator (``SEED``), so CI sees
the same ones on every run.

Counts (asserted below, so they cannot silently shrink):

* library parser (``CompressedFile.from_bytes``), :data:`MIN_LIBRARY_VARIANTS` or more
  (about 14,700): every truncation of every golden file; every single-bit flip in the
  first 96 bytes of each file (prefix, header, CRC, first frame head) and 1,000 more at
  random positions; 1,000 multi-bit flips (2 to 16 bits); 500 byte insertions, 500
  deletions, 500 overwrites; frame records swapped between files and reordered within a
  file; one file's header with another's frames; random bytes, other formats' magic
  numbers, format 1 files, prefixes of our magic and the empty file;
* full command line: :data:`CLI_VARIANTS` (300) of those, drawn across every kind;
* frames from another file re-sealed with valid checksums (so only the decoder can tell):
  three, through the command line, each refused or decoding to the images the header's
  own file holds;
* crafted headers with valid checksums (huge counts, huge layouts, path-like model
  names): refused through the command line before any model is built, without opening
  what the file names, and by the parser without allocating what the header claims.
"""

from __future__ import annotations

import json
import random
import struct
import sys
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from bitsback_core.cli.main import main
from bitsback_core.compression.container import (
    FRAME_HEAD_BYTES,
    CompressedFile,
    ContainerError,
    encode_frame,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
from make_golden import golden_images, images_sha256  # noqa: E402

SEED = 20261130
MIN_LIBRARY_VARIANTS = 10_000
CLI_VARIANTS = 300
RECORD = json.loads((GOLDEN / "golden.json").read_text())
FILES = {name: (GOLDEN / f"{name}.bbz").read_bytes() for name in sorted(RECORD)}

OTHER_MAGICS = [
    b"\x89PNG\r\n\x1a\n", b"\x1f\x8b\x08", b"PK\x03\x04", b"\x93NUMPY\x01\x00", b"BZh9", b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd", b"%PDF-1.7", b"\x7fELF", b"{\"format\": 2}", b"GIF89a", b"\x89HDF\r\n\x1a\n",
    b"\x89BBY", b"\x89bbz", b"\x89BBZ\x01\x01\x30", b"\x89BBZ\x03\x01\x30", b"\x89BBZ\x02\x80\x30",
]  # fmt: skip


def _records(data: bytes) -> tuple[bytes, list[bytes]]:
    """A valid file's header bytes and each frame's whole record (head and payload)."""
    parsed = CompressedFile.from_bytes(data)
    offset = len(data) - sum(FRAME_HEAD_BYTES + len(f) for f in parsed.frames)
    head, records = data[:offset], []
    for frame in parsed.frames:
        records.append(data[offset : offset + FRAME_HEAD_BYTES + len(frame)])
        offset += FRAME_HEAD_BYTES + len(frame)
    return head, records


def variants() -> Iterator[tuple[str, bytes]]:
    """``(kind, bytes)`` for every fuzzed variant, in a fixed order."""
    rng = random.Random(SEED)
    names = sorted(FILES)
    for name in names:
        data = FILES[name]
        for keep in range(len(data)):
            yield "truncated", data[:keep]
        for bit in range(8 * min(96, len(data))):
            yield "bit flip", _flip(data, [bit])
    for _ in range(1000):
        data = FILES[rng.choice(names)]
        yield "bit flip", _flip(data, [rng.randrange(8 * len(data))])
    for _ in range(1000):
        data = FILES[rng.choice(names)]
        yield "bit flips", _flip(data, rng.sample(range(8 * len(data)), rng.randint(2, 16)))
    for kind in ("inserted", "deleted", "overwritten"):
        for _ in range(500):
            data = FILES[rng.choice(names)]
            at = rng.randrange(len(data) + (kind == "inserted"))
            byte = bytes([rng.randrange(256)])
            if kind == "inserted":
                yield kind, data[:at] + byte + data[at:]
            elif kind == "deleted":
                yield kind, data[:at] + data[at + 1 :]
            elif byte != data[at : at + 1]:
                yield kind, data[:at] + byte + data[at + 1 :]
    yield from _splices(names)
    yield from _foreign(rng)


def _flip(data: bytes, bits: list[int]) -> bytes:
    out = bytearray(data)
    for bit in bits:
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _splices(names: list[str]) -> Iterator[tuple[str, bytes]]:
    """Frame records moved between files and within a file; headers with foreign frames."""
    split = {name: _records(FILES[name]) for name in names}
    for target in names:
        head, records = split[target]
        for source in names:
            if source == target:
                continue
            other_records = split[source][1]
            yield "header with foreign frames", head + b"".join(other_records)
            for k in range(len(records)):
                for record in other_records:
                    yield (
                        "swapped frame",
                        head + b"".join(records[:k] + [record] + records[k + 1 :]),
                    )
        for order in ([1, 0, 2], [2, 1, 0], [0, 2, 1], [1, 2, 0], [2, 0, 1]):
            if len(records) == 3:
                yield "reordered frames", head + b"".join(records[i] for i in order)
        if len(records) > 1:
            yield "dropped frame", head + b"".join(records[1:])
            yield "doubled frame", head + records[0] + b"".join(records)


def _foreign(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    for size in range(1, 9):
        yield "magic prefix", b"\x89BBZ\x02\x01\x30\x01"[:size]
    for _ in range(300):
        yield "random bytes", rng.randbytes(rng.choice([1, 3, 7, 8, 64, 200, 1500]))
    for magic in OTHER_MAGICS:
        for size in (0, 10, 600):
            yield "other format", magic + rng.randbytes(size)
    v1 = b"BITSBACK" + struct.pack("<HI", 1, 2) + b"{}" + struct.pack("<Q", 0) + b"\0" * 32
    yield "format 1", v1
    yield "format 1", v1[:9]


ALL = list(variants())


def test_there_are_enough_variants_of_every_kind() -> None:
    kinds = {kind for kind, _ in ALL}
    assert len(ALL) >= MIN_LIBRARY_VARIANTS
    assert {"truncated", "bit flip", "bit flips", "inserted", "deleted", "overwritten", "swapped frame",
            "reordered frames", "header with foreign frames", "random bytes", "other format", "empty",
            "format 1", "magic prefix"} <= kinds  # fmt: skip
    originals = set(FILES.values())
    assert not any(data in originals for _, data in ALL), "a variant equals a valid golden file"


def test_the_parser_refuses_every_variant_in_one_line() -> None:
    accepted = []
    for index, (kind, data) in enumerate(ALL):
        try:
            CompressedFile.from_bytes(data, name="fuzz.bbz")
        except ContainerError as exc:
            message = str(exc)
            assert message.startswith("fuzz.bbz") and "\n" not in message, (kind, message)
        else:
            accepted.append((index, kind))
    assert accepted == []


def _decompress(
    capsys: pytest.CaptureFixture[str], folder: Path, data: bytes, tag: str
) -> tuple[int, str, Path]:
    path, out = folder / f"{tag}.bbz", folder / f"{tag}.npy"
    path.write_bytes(data)
    code = main(["decompress", str(path), "-o", str(out)])
    return code, capsys.readouterr().err, out


def _refused(code: int, err: str, out: Path, folder: Path, what: Any) -> None:
    lines = err.strip().splitlines()
    assert code != 0, what
    assert len(lines) == 1 and lines[0].startswith("error:"), (what, err)
    assert "Traceback" not in err, (what, err)
    assert not out.exists(), what
    assert sorted(p.suffix for p in folder.iterdir()) == [".bbz"], (what, sorted(folder.iterdir()))


def test_the_command_line_refuses_a_sample_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """CLI_VARIANTS variants drawn across kinds: every kind at least once, the rest at random."""
    rng = random.Random(SEED + 1)
    by_kind: dict[str, list[int]] = {}
    for index, (kind, _) in enumerate(ALL):
        by_kind.setdefault(kind, []).append(index)
    chosen = {rng.choice(indices) for indices in by_kind.values()}
    while len(chosen) < CLI_VARIANTS:
        chosen.add(rng.randrange(len(ALL)))
    for index in sorted(chosen):
        folder = tmp_path / str(index)
        folder.mkdir()
        code, err, out = _decompress(capsys, folder, ALL[index][1], "v")
        _refused(code, err, out, folder, (index, ALL[index][0]))


def _reseal(head: bytes, payloads: list[bytes]) -> bytes:
    """``head`` followed by ``payloads`` as bits-back frames with valid checksums."""
    crc = struct.unpack("<I", head[-4:])[0]
    return head + b"".join(encode_frame(crc, k, p) for k, p in enumerate(payloads))


@pytest.mark.parametrize(
    "target, source",
    [("stochastic", "elbo"), ("cis5", "is5"), ("is5-iterative", "is5")],
)
def test_resealed_foreign_frames_never_decode_to_other_images(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str, source: str
) -> None:
    """Checksums cannot catch a frame re-sealed into another file: the decoder's end-of-decode
    check must (or the frame must decode to the very images the header's file holds)."""
    head, _ = _records(FILES[target])
    data = _reseal(head, list(CompressedFile.from_bytes(FILES[source]).frames))
    code, err, out = _decompress(capsys, tmp_path, data, "resealed")
    if code == 0:  # allowed only if the images are the target's own
        decoded = np.load(out)
        assert images_sha256(decoded) == RECORD[target]["images_sha256"]
        assert images_sha256(golden_images(RECORD[target]["layout"])) == images_sha256(decoded)
        return
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert not out.exists()


# --- crafted headers: valid checksums, values beyond the limits --------------------------------


def _crafted(name: str, frames: bool = True, **changes: Any) -> bytes:
    parsed = CompressedFile.from_bytes(FILES[name])
    header = attrs.evolve(parsed.header, **changes)
    kept = parsed.frames if frames else ()
    return CompressedFile(header=header, frames=kept, codecs=(0,) * len(kept)).to_bytes(check=False)


CRAFTED: list[tuple[dict[str, Any], bool, str]] = [
    (dict(num_images=2**40, frame_images=2**24), True, "truncated"),
    (dict(num_images=10**15), True, "image count"),
    (dict(num_images=2**40, frame_images=1), False, "truncated"),
    (dict(chains=2**10, lanes=2**11, num_images=2**21, frame_images=2**21), True, "lanes"),
    (dict(chains=65535, lanes=65535), True, "lanes"),
    (dict(image_shape=(2**20, 2**20)), True, "image shape"),
    (dict(iterative=(10**9, 0.01)), True, "iterative steps"),
    (dict(num_particles=2**32), True, "num_particles"),
    (dict(latent_dim=2**40), True, "latent_dim"),
    (dict(model_name="/proc/self/environ"), True, "not among this installation's models"),
    (dict(model_name="../../etc/passwd"), True, "not among this installation's models"),
]


@pytest.fixture
def opened_paths() -> Iterator[list[str]]:
    """Every path the process opens while the fixture is active (an audit hook)."""
    seen: list[str] = []
    active = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if active[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
            seen.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed: this one switches itself off
    yield seen
    active[0] = False


@pytest.mark.parametrize("changes, frames, match", CRAFTED)
def test_crafted_headers_are_refused_before_decoding(
    changes: dict[str, Any],
    frames: bool,
    match: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opened_paths: list[str],
) -> None:
    if "model_name" in changes:  # a legal label: the model is looked up by an identity no model has
        changes = dict(changes, identity=b"\xee" * 16)
    data = _crafted("elbo", frames, **changes)
    tracemalloc.start()
    try:
        # A path-like label with an unknown identity is legal for the parser; the rest is not.
        with pytest.raises(ContainerError) if "model_name" not in changes else nullcontext():
            CompressedFile.from_bytes(data, name="evil.bbz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"the parser allocated {peak} bytes for a crafted header"

    from bitsback_core import session
    from bitsback_core.pipeline import components

    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoding started: a model was built")

    if "model_name" not in changes:
        for module in (components, session):  # the decoder's session builds the components
            monkeypatch.setattr(module, "build_components", no_model)
    code, err, out = _decompress(capsys, tmp_path, data, "evil")
    _refused(code, err, out, tmp_path, changes)
    assert match in err, err
    named = changes.get("model_name")
    if named:
        assert not any(named in path for path in opened_paths), [
            p for p in opened_paths if named in p
        ]


def test_header_crc_covers_every_header_byte() -> None:
    """Re-stating the checksum rule from bytes: the header's CRC32 is over prefix and body."""
    for data in FILES.values():
        head, _ = _records(data)
        assert struct.unpack("<I", head[-4:])[0] == zlib.crc32(head[:-4])
