"""The ``.bbz`` container: byte layout, damage detection and atomic, no-clobber writes."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest

from bitsback_core.compression import container as container_module
from bitsback_core.compression.container import (
    FORMAT_VERSION,
    CompressedFile,
    ContainerError,
    write_new_file,
)
from bitsback_core.errors import BitsbackError

HEADER = {"num_images": 3, "config": {"coder": "BitsBackCoder", "lanes": 2}, "note": "é"}
MESSAGE = bytes(range(256)) * 3


@pytest.fixture
def data() -> bytes:
    return CompressedFile(header=HEADER, message=MESSAGE).to_bytes()


def _reseal(body: bytes) -> bytes:
    """``body`` with a valid checksum: damage the checksum alone cannot see."""
    return body + hashlib.sha256(body).digest()


def test_round_trip(data: bytes) -> None:
    parsed = CompressedFile.from_bytes(data)
    assert parsed == CompressedFile(header=HEADER, message=MESSAGE)


def test_empty_message_round_trips() -> None:
    data = CompressedFile(header={}, message=b"").to_bytes()
    assert CompressedFile.from_bytes(data) == CompressedFile(header={}, message=b"")


def test_documented_byte_layout(data: bytes) -> None:
    magic, version, head_len = struct.unpack_from("<8sHI", data)
    assert (magic, version) == (b"BITSBACK", FORMAT_VERSION)
    head = data[14 : 14 + head_len]
    assert json.loads(head.decode("utf-8")) == HEADER
    (msg_len,) = struct.unpack_from("<Q", data, 14 + head_len)
    assert msg_len == len(MESSAGE)
    start = 14 + head_len + 8
    assert data[start : start + msg_len] == MESSAGE
    assert data[-32:] == hashlib.sha256(data[:-32]).digest()
    assert len(data) == start + msg_len + 32


def test_serialization_is_deterministic() -> None:
    a = CompressedFile(header={"b": 1, "a": 2}, message=b"x").to_bytes()
    b = CompressedFile(header={"a": 2, "b": 1}, message=b"x").to_bytes()
    assert a == b


def test_errors_are_user_errors() -> None:
    assert issubclass(ContainerError, BitsbackError) and issubclass(ContainerError, ValueError)


def test_bad_magic(data: bytes) -> None:
    with pytest.raises(ContainerError, match="not a bitsback file"):
        CompressedFile.from_bytes(b"NOTBBACK" + data[8:], name="f.bbz")


def test_unknown_version(data: bytes) -> None:
    body = data[:8] + struct.pack("<H", FORMAT_VERSION + 1) + data[10:-32]
    with pytest.raises(ContainerError, match=f"format version {FORMAT_VERSION + 1}"):
        CompressedFile.from_bytes(_reseal(body))


@pytest.mark.parametrize("position", [20, -40, -1])
def test_flipped_byte_fails_the_checksum(data: bytes, position: int) -> None:
    damaged = bytearray(data)
    damaged[position] ^= 0x10
    with pytest.raises(ContainerError, match="checksum"):
        CompressedFile.from_bytes(bytes(damaged))


@pytest.mark.parametrize("keep", [len("BITSBACK") + 40, 200, -1])
def test_truncation_is_detected(data: bytes, keep: int) -> None:
    with pytest.raises(ContainerError, match="checksum|too short"):
        CompressedFile.from_bytes(data[:keep])


@pytest.mark.parametrize("size", [0, 10, 51])
def test_too_short(size: int) -> None:
    with pytest.raises(ContainerError, match="too short"):
        CompressedFile.from_bytes(b"BITSBACK" + b"\0" * max(0, size - 8), name="tiny")


def test_inconsistent_lengths_under_a_valid_checksum(data: bytes) -> None:
    body = data[:-32]
    too_long_header = body[:10] + struct.pack("<I", len(body)) + body[14:]
    with pytest.raises(ContainerError, match="inconsistent section lengths"):
        CompressedFile.from_bytes(_reseal(too_long_header))
    head = json.dumps(HEADER).encode()
    # The header length runs past the end; the JSON still parses (trailing spaces).
    no_length_field = (
        struct.pack("<8sHI", b"BITSBACK", FORMAT_VERSION, len(head) + 20) + head + b" " * 10
    )
    with pytest.raises(ContainerError, match="inconsistent section lengths"):
        CompressedFile.from_bytes(_reseal(no_length_field))
    extra = body + b"\0"  # a byte after the message its length does not cover
    with pytest.raises(ContainerError, match="inconsistent section lengths"):
        CompressedFile.from_bytes(_reseal(extra))


def test_header_must_be_a_json_object() -> None:
    head = b"[1, 2]"
    body = (
        struct.pack("<8sHI", b"BITSBACK", FORMAT_VERSION, len(head)) + head + struct.pack("<Q", 0)
    )
    with pytest.raises(ContainerError, match="not a JSON object"):
        CompressedFile.from_bytes(_reseal(body))


def test_unreadable_header() -> None:
    head = b"\xff{not json"
    body = (
        struct.pack("<8sHI", b"BITSBACK", FORMAT_VERSION, len(head)) + head + struct.pack("<Q", 0)
    )
    with pytest.raises(ContainerError, match="unreadable header"):
        CompressedFile.from_bytes(_reseal(body))


def test_read_names_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "a.bbz"
    path.write_bytes(data[:-1])
    with pytest.raises(ContainerError, match="a.bbz"):
        CompressedFile.read(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CompressedFile.read(tmp_path / "missing.bbz")
    path.write_bytes(data)
    assert CompressedFile.read(path).message == MESSAGE


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
