"""Fetch the official EMNIST archive from NIST and install its IDX files.

Only the standard library is used (urllib, hashlib, zipfile).  The archive is streamed
to a temporary file inside the data directory, its MD5 is checked against the value
torchvision records for it, and the ``gzip/emnist-*.gz`` members are extracted under
temporary names and renamed into place, so an interrupted or failed download never leaves
a half-written file under a real name.  Existing files are only replaced when they are
identical or ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bitsback_core.errors import BitsbackError
from bitsback_emnist.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxFormatError,
    read_idx_header,
)

__all__ = [
    "OFFICIAL_MD5",
    "OFFICIAL_URL",
    "DownloadError",
    "ProgressCallback",
    "download_emnist",
    "expected_emnist_files",
]

#: NIST's archive of all EMNIST splits as gzip IDX files (about 535 MB).
OFFICIAL_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
#: MD5 of that archive, as recorded by torchvision.
OFFICIAL_MD5 = "58c8d27c78d21e728a6bc7b3cc06412e"

#: ``progress(bytes_done, total_bytes_or_None)``, called after every chunk.
ProgressCallback = Callable[[int, int | None], None]

_CHUNK = 1 << 20
_MEMBER = re.compile(r"^gzip/(emnist-[a-z]+-(?:train|test)-(?:images-idx3|labels-idx1)-ubyte\.gz)$")


class DownloadError(BitsbackError, RuntimeError):
    """Fetching or installing the archive failed; the message says why and what to do."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


def expected_emnist_files(splits: tuple[str, ...] = ("mnist", "letters")) -> list[str]:
    """The EMNIST file names the loaders look for, for ``splits`` (both parts)."""
    return [
        f"emnist-{split}-{part}-{kind}-ubyte.gz"
        for split in splits
        for part in ("train", "test")
        for kind in ("images-idx3", "labels-idx1")
    ]


def _manual_hint(data_dir: Path) -> str:
    names = "\n".join(f"  {n}" for n in expected_emnist_files())
    return (
        f"To install EMNIST by hand, get the archive ({OFFICIAL_URL}) another way and put "
        f"its gzip/emnist-*.gz files in {data_dir}, at least:\n{names}\n"
        "(other splits: balanced, byclass, bymerge, digits, same naming)."
    )


def _fail(url: str, data_dir: Path, what: str) -> DownloadError:
    return DownloadError(f"{what}\n{_manual_hint(data_dir)}", url=url)


@contextmanager
def _temp_path(directory: Path, prefix: str, suffix: str) -> Iterator[Path]:
    """A fresh temporary file path in ``directory``, removed on exit if still there."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _fetch(
    url: str, dest: Path, timeout: float, progress: ProgressCallback | None, data_dir: Path
) -> str:
    """Stream ``url`` into ``dest``; return the hex MD5 of what was written."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress is not None:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            if total is not None and done != total:
                raise _fail(
                    url,
                    data_dir,
                    f"Download of {url} was cut short: got {done} of {total} bytes.",
                )
    except urllib.error.HTTPError as exc:
        what = f"Download of {url} failed: HTTP {exc.code} {exc.reason}."
        raise _fail(url, data_dir, what) from exc
    except urllib.error.URLError as exc:
        raise _fail(
            url, data_dir, f"Could not reach {url}: {exc.reason} (offline or blocked?)."
        ) from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URLs
        raise _fail(url, data_dir, f"Download of {url} failed: {exc}.") from exc
    return digest.hexdigest()


def _same_content(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def _extract(archive: Path, data_dir: Path, url: str, overwrite: bool) -> list[Path]:
    """Extract the EMNIST members to temp names, check them, then rename all into place."""
    staged: dict[str, Path] = {}
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [(m, _MEMBER.match(m.filename)) for m in zf.infolist()]
                wanted = [(m, match.group(1)) for m, match in members if match]
                if not wanted:
                    what = f"The archive from {url} has no gzip/emnist-*.gz files."
                    raise _fail(url, data_dir, what)
                for info, name in wanted:
                    fd, part = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.", suffix=".part")
                    staged[name] = Path(part)
                    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                        shutil.copyfileobj(src, out, _CHUNK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            what = f"The file from {url} is not a valid zip archive: {exc}"
            raise _fail(url, data_dir, what) from exc
        for name, tmp in staged.items():
            magic = IMAGES_MAGIC if "-images-" in name else LABELS_MAGIC
            try:
                read_idx_header(tmp, magic)
            except IdxFormatError as exc:
                what = f"Archive member gzip/{name} is not valid IDX: {exc}"
                raise _fail(url, data_dir, what) from exc
        conflicts = [
            name
            for name, tmp in staged.items()
            if (data_dir / name).exists() and not _same_content(data_dir / name, tmp)
        ]
        if conflicts and not overwrite:
            listed = ", ".join(conflicts)
            raise DownloadError(
                f"Not overwriting existing files in {data_dir} that differ from the archive "
                f"from {url}: {listed}. Move them away or pass overwrite=True.",
                url=url,
            )
        installed = []
        for name, tmp in staged.items():
            os.replace(tmp, data_dir / name)
            installed.append(data_dir / name)
        return sorted(installed)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)


def download_emnist(
    data_dir: str | Path,
    url: str = OFFICIAL_URL,
    md5: str = OFFICIAL_MD5,
    timeout: float = 60.0,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Download the EMNIST archive from ``url`` and install its IDX files in ``data_dir``.

    ``timeout`` is per network operation (connect / each read), in seconds.  Returns the
    installed file paths, sorted.  Raises :class:`DownloadError` (with the URL, the cause,
    and the file names to install by hand) when the network fails, the server answers
    with an error, the MD5 does not match ``md5``, or an existing different file is in the
    way; no partial or temporary files are left behind in any of these cases.
    """
    data_dir = Path(data_dir).expanduser()
    if not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise ValueError(f"md5 must be 32 hex digits, got {md5!r}")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(url, data_dir, f"Cannot create the data directory {data_dir}: {exc}.") from exc
    try:
        with _temp_path(data_dir, ".emnist-download-", ".zip.part") as archive:
            got = _fetch(url, archive, timeout, progress, data_dir)
            if got != md5.lower():
                raise _fail(
                    url,
                    data_dir,
                    f"Checksum mismatch for {url}: MD5 {got}, expected {md5.lower()} "
                    "(corrupted or changed download; nothing was installed).",
                )
            return _extract(archive, data_dir, url, overwrite)
    except OSError as exc:  # local disk trouble: unwritable directory, disk full
        raise _fail(url, data_dir, f"Could not write to {data_dir}: {exc}.") from exc
