"""``ChainLayout``: which images each step codes, on which chains."""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.compression import ChainLayout


def test_full_steps_have_no_mask() -> None:
    layout = ChainLayout(6, 3, 2)
    assert layout.num_steps == 2
    assert [layout.items(t) for t in range(2)] == [slice(0, 3), slice(3, 6)]
    assert layout.active(0) is None and layout.active(1) is None


def test_last_step_can_be_partial() -> None:
    layout = ChainLayout(7, 3)
    assert layout.lanes == 1
    assert layout.num_steps == 3
    assert layout.items(2) == slice(6, 7)
    np.testing.assert_array_equal(layout.active(2), [True, False, False])


def test_one_chain_is_the_sequential_coder() -> None:
    layout = ChainLayout(4, 1)
    assert layout.num_steps == 4
    assert [layout.items(t) for t in range(4)] == [slice(t, t + 1) for t in range(4)]
    assert all(layout.active(t) is None for t in range(4))


@pytest.mark.parametrize("num_items", [1, 2, 5, 9, 10, 11, 64])
@pytest.mark.parametrize("chains", [1, 2, 3, 7])
def test_steps_cover_every_item_once_in_order(num_items: int, chains: int) -> None:
    if chains > num_items:
        pytest.raises(ValueError, ChainLayout, num_items, chains)
        return
    layout = ChainLayout(num_items, chains)
    covered = [i for t in range(layout.num_steps) for i in range(num_items)[layout.items(t)]]
    assert covered == list(range(num_items))
    for t in range(layout.num_steps):
        sl, mask = layout.items(t), layout.active(t)
        used = sl.stop - sl.start
        assert 1 <= used <= chains
        assert (mask is None) == (used == chains)
        if mask is not None:
            assert mask.dtype == bool and mask.shape == (chains,) and mask.sum() == used
            assert t == layout.num_steps - 1  # only the last step is partial


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 1), "num_items"),
        ((3, 0), "chains"),
        ((3, 1, 0), "lanes"),
        ((3, 4), "4 chains for 3 images"),
    ],
)
def test_bad_layouts_are_rejected(args: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ChainLayout(*args)


def test_layout_is_a_frozen_value() -> None:
    layout = ChainLayout(5, 2, 3)
    assert layout == ChainLayout(5, 2, 3)
    with pytest.raises(AttributeError):
        layout.chains = 1  # type: ignore[misc]
