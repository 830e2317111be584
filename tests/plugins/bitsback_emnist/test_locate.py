"""Tests for data-directory resolution and the missing-files error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsback_emnist.locate import (
    DATA_DIR_ENV,
    DatasetNotFoundError,
    default_data_dir,
    find_dataset_dir,
    resolve_data_dir,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_explicit_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(clean_env / "env"))
    assert resolve_data_dir(clean_env / "cli") == clean_env / "cli"
    assert resolve_data_dir(str(clean_env / "cli")) == clean_env / "cli"


def test_env_var_when_no_explicit(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(clean_env / "env"))
    assert resolve_data_dir(None) == clean_env / "env"
    assert resolve_data_dir("") == clean_env / "env"


def test_home_cache_default(clean_env: Path) -> None:
    expected = clean_env / "home" / ".cache" / "bitsback" / "data"
    assert default_data_dir() == expected == resolve_data_dir()


def test_xdg_cache(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    assert resolve_data_dir() == clean_env / "xdg" / "bitsback" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored per the XDG spec
    assert resolve_data_dir() == clean_env / "home" / ".cache" / "bitsback" / "data"


def test_tilde_expanded(clean_env: Path) -> None:
    assert resolve_data_dir("~/d") == clean_env / "home" / "d"


def test_find_in_dir_or_subdir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.gz").write_bytes(b"")
    (tmp_path / "sub" / "b.gz").write_bytes(b"")
    found = find_dataset_dir(tmp_path, ["a.gz", "b.gz"], dataset="X", subdir="sub")
    assert found == tmp_path / "sub"
    (tmp_path / "a.gz").write_bytes(b"")
    (tmp_path / "b.gz").write_bytes(b"")
    assert find_dataset_dir(tmp_path, ["a.gz", "b.gz"], dataset="X", subdir="sub") == tmp_path


def test_not_found_message(tmp_path: Path) -> None:
    d = tmp_path / "my data"
    d.mkdir()
    (d / "a.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as err:
        find_dataset_dir(d, ["a.gz", "b.gz"], dataset="EMNIST", download_hint=True)
    msg = str(err.value)
    assert "EMNIST files not found" in msg and str(d) in msg
    assert "  a.gz\n" in msg and "  b.gz  (missing)" in msg
    assert "put these files in" in msg and DATA_DIR_ENV in msg
    assert f"bitsback download --dataset EMNIST --datadir '{d}'" in msg  # shell-quoted
    assert err.value.missing == ("b.gz",) and err.value.expected == ("a.gz", "b.gz")
    assert err.value.searched == (d,)
