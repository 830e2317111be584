"""Shared fixtures for the pipeline tests: the paper's checkpoints, the EMNIST data, a registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from paper_paths import EMNIST_DIR, PAPER, SHARED, paper_train_config

from bitsback_core.config import Config
from bitsback_core.registry import Registry, load_registry


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (PAPER.is_dir() and EMNIST_DIR.is_dir()):
        pytest.skip(f"shared checkpoints/data under {SHARED} are absent")
    return SHARED


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def make_config(shared: Path):  # type: ignore[no-untyped-def]
    """A small config over a paper model: ``make_config(num=5, coder=..., ...)``."""

    def make(num: int = 1, split: str = "mnist", **values: Any) -> Config:
        base: dict[str, Any] = {
            "train_config": str(paper_train_config(split, num)),
            "datadir": str(EMNIST_DIR),
            "split": split,
            "num_compress": 5,
            "batch_size": 100,
        }
        return Config.from_mapping(base | values)

    return make
