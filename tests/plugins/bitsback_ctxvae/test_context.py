"""The context template: torch and numba agree, and a context reads only earlier pixels."""

from __future__ import annotations

import numpy as np
import torch

from bitsback_ctxvae.context import NUM_CONTEXTS, OFFSETS, context_index, contexts


def _images(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 784)) < 0.3).astype(np.uint8)


def test_torch_and_numba_contexts_agree() -> None:
    x = _images(16)
    expected = contexts(x)
    got = context_index(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(got, expected)
    assert expected.min() >= 0 and expected.max() < NUM_CONTEXTS


def test_a_context_depends_only_on_earlier_pixels() -> None:
    x = _images(1, seed=1)
    base = contexts(x)[0]
    for p in (0, 29, 400, 783):
        y = x.copy()
        y[0, p:] ^= 1  # change pixel p and everything after it
        np.testing.assert_array_equal(contexts(y)[0, : p + 1], base[: p + 1])


def test_each_template_bit_is_its_offset_pixel() -> None:
    r, c = 10, 10
    for t, (dy, dx) in enumerate(OFFSETS.tolist()):
        img = np.zeros((1, 784), dtype=np.uint8)
        img[0, (r + dy) * 28 + (c + dx)] = 1
        assert contexts(img)[0, r * 28 + c] == 1 << t


def test_pixels_outside_the_image_count_as_zero() -> None:
    ones = np.ones((1, 784), dtype=np.uint8)
    ctx = contexts(ones)[0]
    assert ctx[0] == 0  # top-left pixel: every template pixel is outside
    assert ctx[28 * 27 + 27] == NUM_CONTEXTS - 1 - sum(
        1 << t for t, (dy, dx) in enumerate(OFFSETS.tolist()) if dx > 0 and 27 + dx >= 28
    )
