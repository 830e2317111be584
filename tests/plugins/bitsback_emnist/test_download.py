"""Tests for the EMNIST downloader against a local HTTP server (never the internet).

The served archive is built here: tiny IDX files in the NIST member layout
(``gzip/emnist-*.gz``) plus unrelated members the installer must ignore.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from bitsback_emnist.datasets import EMNIST
from bitsback_emnist.download import (
    OFFICIAL_MD5,
    OFFICIAL_URL,
    DownloadError,
    download_emnist,
    expected_emnist_files,
)
from bitsback_emnist.idx import write_idx_images, write_idx_labels

MEMBERS = [
    "emnist-mnist-test-images-idx3-ubyte.gz",
    "emnist-mnist-test-labels-idx1-ubyte.gz",
    "emnist-letters-test-images-idx3-ubyte.gz",
    "emnist-letters-test-labels-idx1-ubyte.gz",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _build_fixture(root: Path) -> dict[str, bytes]:
    """Write tiny IDX files and zip them as NIST does; return member name -> bytes."""
    src = root / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("mnist", 3), ("letters", 2)):
        write_idx_images(
            src / f"emnist-{split}-test-images-idx3-ubyte.gz",
            rng.integers(0, 256, size=(n, 28, 28)),
        )
        write_idx_labels(
            src / f"emnist-{split}-test-labels-idx1-ubyte.gz", rng.integers(0, 10, size=n)
        )
    contents = {name: (src / name).read_bytes() for name in MEMBERS}
    www = root / "www"
    www.mkdir()
    with zipfile.ZipFile(www / "gzip.zip", "w") as zf:
        zf.writestr("gzip/", b"")
        for name, data in contents.items():
            zf.writestr(f"gzip/{name}", data)
        zf.writestr("gzip/README.txt", b"not an IDX file")
        zf.writestr("emnist-evil-test-images-idx3-ubyte.gz", b"outside gzip/: ignored")
    with zipfile.ZipFile(www / "empty.zip", "w") as zf:
        zf.writestr("other/readme.txt", b"nothing useful")
    with zipfile.ZipFile(www / "corrupt.zip", "w") as zf:
        zf.writestr("gzip/emnist-mnist-test-images-idx3-ubyte.gz", b"\x00\x00\x08\x01junk")
    (www / "notzip.zip").write_bytes(b"this is not a zip archive at all")
    return contents


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, dict]]:
    """Serve the fixture directory on 127.0.0.1; yield (base url, www dir, contents)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    contents = _build_fixture(tmp_path)
    www = tmp_path / "www"
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(www))
    )
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, contents
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_constants() -> None:
    assert OFFICIAL_URL == "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    assert OFFICIAL_MD5 == "58c8d27c78d21e728a6bc7b3cc06412e"


def test_download_verify_extract(server: tuple[str, Path, dict], tmp_path: Path) -> None:
    base, www, contents = server
    size = (www / "gzip.zip").stat().st_size
    calls: list[tuple[int, int | None]] = []
    data_dir = tmp_path / "data" / "nested"  # created on demand
    installed = download_emnist(
        data_dir,
        url=f"{base}/gzip.zip",
        md5=_md5(www / "gzip.zip"),
        timeout=10,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert installed == sorted(data_dir / name for name in MEMBERS)
    # Exactly the EMNIST members, byte for byte; no temp files, nothing from outside gzip/.
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MEMBERS)
    for name, data in contents.items():
        assert (data_dir / name).read_bytes() == data
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    # The loader reads what was installed.
    assert len(EMNIST(data_dir, "mnist", train=False)) == 3
    assert len(EMNIST(data_dir, "letters", train=False)) == 2


def test_wrong_md5_installs_nothing(server: tuple[str, Path, dict], tmp_path: Path) -> None:
    base, _, _ = server
    url = f"{base}/gzip.zip"
    with pytest.raises(DownloadError) as err:
        download_emnist(tmp_path / "d", url=url, md5="0" * 32, timeout=10)
    assert "Checksum mismatch" in str(err.value) and url in str(err.value)
    assert err.value.url == url
    assert list((tmp_path / "d").iterdir()) == []


def test_refused_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as sock:  # grab a free port, then close it: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gzip.zip"
    with pytest.raises(DownloadError) as err:
        download_emnist(tmp_path, url=url, timeout=5)
    msg = str(err.value)
    assert url in msg and "refused" in msg.lower()
    assert str(tmp_path) in msg
    for name in expected_emnist_files():
        assert name in msg
    assert list(tmp_path.iterdir()) == []


def test_http_error(server: tuple[str, Path, dict], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    base, _, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_emnist(data, url=f"{base}/missing.zip", timeout=10)
    assert list(data.iterdir()) == []


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        ("empty.zip", "has no gzip/emnist"),
        ("corrupt.zip", "is not valid IDX"),
        ("notzip.zip", "not a valid zip archive"),
    ],
)
def test_bad_archives(
    server: tuple[str, Path, dict], tmp_path: Path, archive: str, message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    base, www, _ = server
    with pytest.raises(DownloadError, match=message):
        download_emnist(data, url=f"{base}/{archive}", md5=_md5(www / archive), timeout=10)
    assert list(data.iterdir()) == []


def test_existing_files(server: tuple[str, Path, dict], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    base, www, contents = server
    url, md5 = f"{base}/gzip.zip", _md5(www / "gzip.zip")
    same, different = MEMBERS[0], MEMBERS[2]
    (data / same).write_bytes(contents[same])
    (data / different).write_bytes(b"my own file")
    with pytest.raises(DownloadError) as err:
        download_emnist(data, url=url, md5=md5, timeout=10)
    assert different in str(err.value) and same not in str(err.value)
    assert "overwrite=True" in str(err.value)
    # All-or-nothing: nothing else installed, the user's file untouched, no temp files.
    assert sorted(p.name for p in data.iterdir()) == sorted([same, different])
    assert (data / different).read_bytes() == b"my own file"

    download_emnist(data, url=url, md5=md5, timeout=10, overwrite=True)
    assert sorted(p.name for p in data.iterdir()) == sorted(MEMBERS)
    assert (data / different).read_bytes() == contents[different]


def test_rejects_malformed_md5(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 hex digits"):
        download_emnist(tmp_path, url="http://127.0.0.1:9/x", md5="abc")


def test_malformed_url(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="not-a-url"):
        download_emnist(tmp_path, url="not-a-url", timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_uncreatable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DownloadError, match="Cannot create the data directory"):
        download_emnist(blocker / "data", url="http://127.0.0.1:9/x", timeout=1)
