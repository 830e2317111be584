"""``bitsback download``: a failed download is a clear one-line error listing the files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bitsback_core.cli.main import main


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_download_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import bitsback_emnist.download as download

    monkeypatch.setattr(download, "OFFICIAL_URL", f"http://127.0.0.1:{closed_port()}/gzip.zip")
    code = main(["download", "--dataset", "EMNIST", "--datadir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert "emnist-mnist-test-images-idx3-ubyte.gz" in err
    assert "Traceback" not in err
    assert not any((tmp_path / "data").glob("*.gz"))


def test_dataset_without_downloader(tmp_path: Path, capsys) -> None:
    code = main(["download", "--dataset", "MNIST", "--datadir", str(tmp_path)])
    assert code == 2
    assert "no downloader" in capsys.readouterr().err
