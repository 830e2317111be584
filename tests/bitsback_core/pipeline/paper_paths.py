"""Where the pipeline tests find the paper's checkpoints and the EMNIST data (read-only)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared"
PAPER = SHARED / "checkpoints" / "mcbits-paper"
EMNIST_DIR = SHARED / "data" / "emnist"


def paper_train_config(split: str = "mnist", num: int = 1) -> Path:
    """``train_config.yml`` of the paper's model trained on ``split`` with ``num`` particles."""
    return PAPER / f"train_bin_emnist_split={split}_num={num}" / "train_config.yml"
