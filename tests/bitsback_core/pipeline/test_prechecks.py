"""Checks before coding: output places, option ranges, the device, output names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bitsback_core.errors import ConfigError
from bitsback_core.pipeline import prechecks
from bitsback_core.pipeline.prechecks import (
    MAX_SEED,
    check_distinct,
    check_gpu,
    check_output,
    check_seed,
    compressed_name,
    decompressed_name,
)


def test_gzip_style_names(tmp_path: Path) -> None:
    assert compressed_name(Path("x.npy")) == Path("x.npy.bbz")
    assert compressed_name(Path("data/digits/")) == Path("data/digits.bbz")
    assert decompressed_name(Path("a/x.npy.bbz")) == Path("a/x.npy")
    assert decompressed_name(Path("digits.bbz")) == Path("digits")
    for name in ("x.npy", "x.bbz.gz", ".bbz"):
        with pytest.raises(ConfigError, match="does not end in .bbz: name the output with -o"):
            decompressed_name(Path(name))


def test_seed_range() -> None:
    assert check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, 2**64, 2**70):
        with pytest.raises(ConfigError, match="outside 0 to 2\\^64 - 1"):
            check_seed(bad)


def test_output_checks(tmp_path: Path) -> None:
    check_output(tmp_path / "new.bbz", overwrite=False)
    (tmp_path / "old.bbz").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="old.bbz already exists \\(use --force"):
        check_output(tmp_path / "old.bbz", overwrite=False)
    check_output(tmp_path / "old.bbz", overwrite=True)
    with pytest.raises(FileNotFoundError, match="directory .*missing does not exist"):
        check_output(tmp_path / "missing" / "x.bbz", overwrite=False)
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder is a directory"):
        check_output(tmp_path / "folder", overwrite=True)
    check_output(tmp_path / "folder", overwrite=True, folder=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "old.bbz",
    ]  # probes leave nothing


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(prechecks.tempfile, "TemporaryFile", refuse)
    with pytest.raises(PermissionError, match="cannot write in .*: permission denied"):
        check_output(tmp_path / "x.bbz", overwrite=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="cannot write in"):
            check_output(tmp_path / "x.bbz", overwrite=False)
    finally:
        tmp_path.chmod(0o755)


def test_distinct_outputs(tmp_path: Path) -> None:
    check_distinct(["a.npy", "b.npy"], ["a.npy.bbz", "b.npy.bbz"])
    check_distinct(["-"], ["-"])
    with pytest.raises(ConfigError, match="a.npy and ./a.npy would both be written to"):
        check_distinct(["a.npy", "./a.npy"], ["a.bbz", "./a.bbz"])
    with pytest.raises(ConfigError, match="b.npy is both an input and an output"):
        check_distinct(["a.npy", "b.npy"], ["b.npy", "c.bbz"])


def test_gpu_without_cuda_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    check_gpu(-1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--gpu 0: CUDA is not available here"):
        check_gpu(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_gpu(0)
    with pytest.raises(ConfigError, match="--gpu 3: this machine has 1 CUDA device"):
        check_gpu(3)
