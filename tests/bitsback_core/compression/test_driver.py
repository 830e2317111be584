"""``encode_dataset`` / ``decode_dataset`` with a recording toy coder and a real coder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bitsback_core.ans.codec import LaneView
from bitsback_core.ans.message import Message
from bitsback_core.coders import Coder
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.compression.driver import group_bounds
from bitsback_core.distributions import Bernoulli, Uniform

OBS_DIM = 10
SHARED = Path(__file__).resolve().parents[3].parent / "shared"


class PixelCoder(Coder):
    """Codes each pixel with a fixed Bernoulli(0.3); records every call it gets."""

    PLUGIN_NAME = "pixels"

    def __init__(self) -> None:  # no model needed
        self.calls: list[tuple[str, int, tuple[int, ...], tuple[bool, ...] | None]] = []

    def _dist(self, chains: int) -> Bernoulli:
        return Bernoulli(np.full((chains, OBS_DIM), 0.3), 12)

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        self.calls.append(("encode", step, x.shape, None if active is None else tuple(active)))
        LaneView(message, 0, active).push(self._dist(message.shape[0]), x)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        self.calls.append(
            ("decode", step, (message.shape[0], OBS_DIM), None if active is None else tuple(active))
        )
        return LaneView(message, 0, active).pop(self._dist(message.shape[0]))


def _data(num: int) -> np.ndarray:
    return (np.random.default_rng(num).random((num, OBS_DIM)) < 0.3).astype(np.uint8)


@pytest.mark.parametrize(
    "num, chains, lanes", [(1, 1, 1), (5, 1, 1), (7, 3, 1), (7, 3, 4), (8, 4, 3)]
)
def test_round_trip_through_bytes(num: int, chains: int, lanes: int) -> None:
    data = _data(num)
    layout = ChainLayout(num, chains, lanes)
    coder = PixelCoder()
    message = Message((chains, lanes), seed=3)
    advanced: list[int] = []
    assert encode_dataset(coder, data, layout, message, advanced.append) is message
    assert sum(advanced) == num and len(advanced) == layout.num_steps

    received = message.reread()
    advanced.clear()
    decoded = decode_dataset(coder, received, layout, OBS_DIM, advanced.append)
    np.testing.assert_array_equal(decoded, data)
    assert decoded.dtype == np.uint8
    assert sum(advanced) == num
    assert received.is_initial_state()  # everything popped back off


def test_decoder_sees_the_encoders_batches_in_reverse() -> None:
    coder = PixelCoder()
    layout = ChainLayout(5, 2)
    message = Message((2, 1))
    encode_dataset(coder, _data(5), layout, message)
    decode_dataset(coder, message, layout, OBS_DIM)
    encoded = [
        (step, shape, active) for kind, step, shape, active in coder.calls if kind == "encode"
    ]
    decoded = [
        (step, shape, active) for kind, step, shape, active in coder.calls if kind == "decode"
    ]
    assert [step for step, _, _ in encoded] == [0, 1, 2]
    assert decoded == encoded[::-1]
    assert encoded[-1] == (2, (2, OBS_DIM), (True, False))  # the padded, masked last step


def test_wrong_number_of_images_is_rejected() -> None:
    with pytest.raises(ValueError, match="layout is for 4 images, got 3"):
        encode_dataset(PixelCoder(), _data(3), ChainLayout(4, 2), Message((2, 1)))


def test_images_must_be_a_matrix() -> None:
    with pytest.raises(ValueError, match="num_items, obs_dim"):
        encode_dataset(PixelCoder(), _data(4).reshape(4, 2, 5), ChainLayout(4, 2), Message((2, 1)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 1)])
def test_message_must_match_the_layout(shape: tuple[int, int]) -> None:
    layout = ChainLayout(4, 2, 1)
    with pytest.raises(ValueError, match="does not match layout"):
        encode_dataset(PixelCoder(), _data(4), layout, Message(shape))
    with pytest.raises(ValueError, match="does not match layout"):
        decode_dataset(PixelCoder(), Message(shape), layout, OBS_DIM)


def test_obs_dim_must_be_positive() -> None:
    with pytest.raises(ValueError, match="obs_dim"):
        decode_dataset(PixelCoder(), Message((1, 1)), ChainLayout(1, 1), 0)


def test_real_coder_on_paper_model() -> None:
    """The driver with BB-IS on a paper checkpoint, several chains and lanes: exact decode."""
    train_config = (
        SHARED
        / "checkpoints"
        / "mcbits-paper"
        / "train_bin_emnist_split=mnist_num=5"
        / "train_config.yml"
    )
    data_dir = SHARED / "data" / "emnist"
    if not (train_config.is_file() and data_dir.is_dir()):
        pytest.skip(f"shared checkpoints/data under {SHARED} are absent")
    from bitsback_core.config import Config
    from bitsback_core.pipeline import build_coder, build_components
    from bitsback_core.pipeline.data import load_images
    from bitsback_core.registry import load_registry

    registry = load_registry()
    config = Config.from_mapping(
        {
            "train_config": str(train_config),
            "datadir": str(data_dir),
            "num_compress": 5,
            "coder": "ISBitsBackCoder",
            "num_particles": 5,
        }
    )
    coder = build_coder(config, registry, build_components(config, registry))
    x = load_images(config, registry)
    layout = ChainLayout(5, 2, 4)
    message = Message((2, 4), seed=1)
    encode_dataset(coder, x, layout, message)
    decoded = decode_dataset(coder, message.reread(), layout, 784)
    np.testing.assert_array_equal(decoded, x)


class BitsBackToyCoder(Coder):
    """Pops a latent first (so empty lanes draw initial words), then pushes the image and the
    latent back: a bits-back coder in miniature whose chains are independent."""

    PLUGIN_NAME = "toy-bits-back"
    chains_independent = True  # type: ignore[assignment]  # no model or proposal to ask

    def __init__(self, fail_on_chains: int = 0, pause_s: float = 0.0) -> None:
        self.fail_on_chains = fail_on_chains  # raise when a message of this many chains codes
        self.pause_s = pause_s  # each other message's steps take at least this long
        self.steps_coded: list[int] = []

    def encode(
        self, message: Message, x: np.ndarray, step: int, active: np.ndarray | None = None
    ) -> None:
        if message.shape[0] == self.fail_on_chains and step == 1:
            raise RuntimeError("this group fails")
        if message.shape[0] != self.fail_on_chains:
            self.steps_coded.append(step)
            time.sleep(self.pause_s)
        io = LaneView.for_step(message, step, active)
        chains = message.shape[0]
        z = io.pop(Uniform(5, 8, (chains, 16)))
        io.push(Bernoulli(np.full((chains, OBS_DIM), 0.3), 12), x)
        io.push(Uniform(7, 8, (chains, 16)), z)

    def decode(self, message: Message, step: int, active: np.ndarray | None = None) -> np.ndarray:
        io = LaneView.for_step(message, step, active)
        chains = message.shape[0]
        z = io.pop(Uniform(7, 8, (chains, 16)))
        x = io.pop(Bernoulli(np.full((chains, OBS_DIM), 0.3), 12))
        io.push(Uniform(5, 8, (chains, 16)), z)
        return x


@pytest.mark.parametrize(
    "num, chains, lanes, groups",
    [(7, 3, 1, 2), (8, 4, 3, 3), (9, 4, 2, 4), (5, 5, 1, 2), (23, 6, 2, 2), (6, 2, 1, 9)],
)
def test_chain_groups_code_the_same_bytes(num: int, chains: int, lanes: int, groups: int) -> None:
    """Groups on threads, partial last steps included: the bytes, drawn words and net bits of
    coding every chain together, and a grouped decode gets the images back."""
    data, layout = _data(num), ChainLayout(num, chains, lanes)

    def fresh() -> Message:  # small heads, so the first pops draw initial words
        return Message((chains, lanes), lprec=16, bprec=8, seed=5)

    together = encode_dataset(BitsBackToyCoder(), data, layout, fresh())
    advanced: list[int] = []
    grouped = encode_dataset(BitsBackToyCoder(), data, layout, fresh(), advanced.append, groups)
    assert grouped.to_frame_bytes() == together.to_frame_bytes()
    assert grouped.net_bits == together.net_bits and sum(advanced) == num
    np.testing.assert_array_equal(grouped._drawn, together._drawn)
    assert together._drawn.sum() > 0  # the groups drew initial words of their own lanes
    received = grouped.reread()
    decoded = decode_dataset(BitsBackToyCoder(), received, layout, OBS_DIM, None, groups)
    np.testing.assert_array_equal(decoded, data)
    assert received.is_initial_state()


def test_groups_are_not_used_for_a_coder_whose_chains_may_interact() -> None:
    coder = PixelCoder()  # chains_independent is false for a coder that does not say so
    coder.proposal = type("P", (), {"PER_ROW": True})()  # type: ignore[assignment]
    coder.model = type("M", (), {"arithmetic": "portable"})()  # type: ignore[assignment]
    encode_dataset(coder, _data(8), ChainLayout(8, 4), Message((4, 1)), groups=2)
    assert {shape for _, _, shape, _ in coder.calls} == {(4, OBS_DIM)}


def test_a_failing_group_is_raised_and_leaves_the_message_unchanged() -> None:
    message = Message((4, 2), seed=1)
    before = message.copy()
    with pytest.raises(RuntimeError, match="this group fails"):
        encode_dataset(BitsBackToyCoder(2), _data(12), ChainLayout(12, 4, 2), message, groups=2)
    assert message.equals(before)


def test_a_failing_group_stops_the_others() -> None:
    """Chains 0-1 and 2-4: the second group fails at its second step, the first (slow) one
    stops at its next step instead of coding its 200."""
    coder = BitsBackToyCoder(fail_on_chains=3, pause_s=0.01)
    layout = ChainLayout(1000, 5)
    assert group_bounds(5, 2) == [(0, 2), (2, 5)]
    with pytest.raises(RuntimeError, match="this group fails"):
        encode_dataset(coder, _data(1000), layout, Message((5, 1)), groups=2)
    assert 0 < len(coder.steps_coded) < layout.num_steps
