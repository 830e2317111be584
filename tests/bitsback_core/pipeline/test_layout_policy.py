"""``pipeline/layout.py``: the chain layout a config asks for and its empty message."""

from __future__ import annotations

from typing import Any

import pytest

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout
from bitsback_core.config import Config
from bitsback_core.pipeline import bench, layout, run


def _cfg(**values: Any) -> Config:
    return Config.from_mapping(values)


@pytest.mark.parametrize(
    "values, num, expected",
    [
        ({}, 20, (1, layout.AUTO_LANES)),  # one chain for small runs
        ({}, 1200, (2, layout.AUTO_LANES)),  # about 500 images per chain
        ({"chains": 1, "lanes": 1}, 20, (1, 1)),  # the seed's sequential coder
        ({"chains": 8, "lanes": 3}, 5, (5, 3)),  # never more chains than images
        ({"chains": 2, "lanes": 4}, 9, (2, 4)),
    ],
)
def test_choose_layout(values: dict[str, Any], num: int, expected: tuple[int, int]) -> None:
    chosen = layout.choose_layout(_cfg(**values), num)
    assert (chosen.chains, chosen.lanes) == expected
    assert chosen.num_items == num


def test_new_message_takes_the_configs_precisions_and_seed() -> None:
    config = _cfg(lprec=24, bprec=16, seed=11)
    message = layout.new_message(config, ChainLayout(10, 2, 3))
    assert (message.shape, message.lprec, message.bprec, message.seed) == ((2, 3), 24, 16, 11)
    assert message.equals(Message((2, 3), 24, 16, seed=11))
    assert not message.equals(Message((2, 3), 24, 16, seed=12))  # the seed keys the heads


def test_the_old_import_paths_name_the_same_functions() -> None:
    """``run`` and ``bench`` re-export what moved here, so their callers keep working."""
    assert run.choose_layout is layout.choose_layout and run.AUTO_LANES == layout.AUTO_LANES
    assert bench.new_message is layout.new_message
