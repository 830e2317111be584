"""``CodingSession``: the library's public face, checked against the pipeline it composes.

Everything runs on the project's own checkpoints (``checkpoints/``) and the images the
dataset plugin finds (the shared EMNIST files, else its packaged sample), so no test needs
``../shared``. Expected figures come from the pipeline's own functions on the same images
and settings, never from pinned numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bitsback_core import session as session_module
from bitsback_core.ans.message import Message
from bitsback_core.compression import encode_dataset
from bitsback_core.compression.container import CompressedFile, ContainerError
from bitsback_core.config import Config
from bitsback_core.errors import ConfigError, PluginError, UnknownComponentError
from bitsback_core.pipeline.components import Components, default_checkpoint_dir
from bitsback_core.pipeline.data import load_images
from bitsback_core.pipeline.files import decompress_file
from bitsback_core.pipeline.run import run_compression
from bitsback_core.registry import Registry, load_registry
from bitsback_core.session import CodingSession, Encoded, find_named_model, model_overrides

ELBO_NAME = "bin_emnist_split=mnist_elbo"
ELBO = default_checkpoint_dir() / ELBO_NAME
IWAE5 = default_checkpoint_dir() / "bin_emnist_split=mnist_iwae5"

pytestmark = pytest.mark.skipif(
    not (ELBO / "model.pt").is_file() or not (IWAE5 / "model.pt").is_file(),
    reason="the project's checkpoints/ (mnist_elbo, mnist_iwae5) are absent",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def images(registry: Registry) -> np.ndarray:
    """Six real binarized test images, shaped ``(n, 28, 28)`` as a user would hold them."""
    return load_images(Config.from_mapping({"num_compress": 6}), registry).reshape(6, 28, 28)


@pytest.fixture(scope="module")
def elbo(registry: Registry) -> CodingSession:
    return CodingSession.open(model=ELBO, coder="BitsBackCoder", registry=registry, chains=2)


# ----- choosing the model -----


def test_model_references_resolve_to_config_keys(tmp_path: Path) -> None:
    assert model_overrides(ELBO / "train_config.yml") == {
        "train_config": str(ELBO / "train_config.yml"),
        "checkpoint": None,
    }
    assert model_overrides(ELBO / "model.pt") == {
        "train_config": None,
        "checkpoint": str(ELBO / "model.pt"),
    }
    assert model_overrides(ELBO) == {
        "train_config": str(ELBO / "train_config.yml"),
        "checkpoint": None,
    }
    assert model_overrides(ELBO_NAME) == model_overrides(ELBO)
    assert find_named_model(ELBO_NAME) == ELBO / "train_config.yml"
    assert find_named_model("../" + ELBO_NAME) is None
    # The catalogue's short names (what `bitsback models` lists) work too.
    assert Path(find_named_model("mnist-elbo")).resolve() == (ELBO / "train_config.yml").resolve()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="holds no train_config.yml"):
        model_overrides(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown model 'no-such-model'.*mnist-elbo"):
        model_overrides("no-such-model")


def test_a_session_records_what_it_codes_with(elbo: CodingSession) -> None:
    assert elbo.config.coder == "BitsBackCoder" and elbo.config.chains == 2
    assert elbo.components.source.checkpoint == ELBO / "model.pt"
    assert type(elbo.coder).PLUGIN_NAME == "BitsBackCoder"
    assert elbo.device == "cpu"
    assert (elbo.layout(5).chains, elbo.layout(5).lanes) == (2, 1)
    assert "BitsBackCoder" in repr(elbo) and "Config(" not in repr(elbo)


def test_aliases_and_options_reach_the_coder(registry: Registry) -> None:
    s = CodingSession.open(model=IWAE5, coder="bb-is", registry=registry, num_particles=3, seed=7)
    assert s.config.coder == "ISBitsBackCoder"
    assert (s.coder.num_particles, s.coder.seed) == (3, 7)


# ----- the setup the commands drive by hand -----


def test_layout_message_and_bound_are_the_commands_setup(
    elbo: CodingSession, images: np.ndarray
) -> None:
    """``run`` and ``bench`` code with ``coder`` over ``message(layout(n))``: the file's net bits."""
    x = elbo.images(images)
    layout = elbo.layout(x.shape[0])
    message = elbo.message(layout)
    c = elbo.config
    assert message.equals(Message((layout.chains, layout.lanes), c.lprec, c.bprec, seed=c.seed))
    encode_dataset(elbo.coder, x, layout, message)
    assert message.net_bits == elbo.encode(images, fallback="never").net_bits
    assert elbo.ideal_bpd(x) * x.size == elbo.ideal_bits(images)


def test_the_particle_count_of_the_bound_can_be_chosen(
    registry: Registry, images: np.ndarray
) -> None:
    s = CodingSession.open(model=IWAE5, coder="ISBitsBackCoder", registry=registry, num_particles=5)
    x = s.images(images)
    one = CodingSession.open(
        model=IWAE5, coder="ISBitsBackCoder", registry=registry, num_particles=1
    )
    assert s.ideal_bpd(x, num_particles=1) == one.ideal_bpd(x)
    assert s.ideal_bpd(x, num_particles=5) == s.ideal_bpd(x) != one.ideal_bpd(x)


def test_for_decoding_checks_the_model_before_building_the_coder(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config.from_mapping(
        {"train_config": str(ELBO / "train_config.yml"), "coder": "BitsBackCoder"}
    )
    seen: list[Components] = []
    s = CodingSession.for_decoding(config, registry, check=seen.append)
    assert seen == [s.components] and type(s.coder).PLUGIN_NAME == "BitsBackCoder"

    def refuse(parts: Components) -> None:
        raise ConfigError(f"{parts.source.checkpoint} is not the file's model")

    def must_not_build(*args: object) -> None:
        raise AssertionError("the coder was built over a refused model")

    monkeypatch.setattr(session_module, "build_coder", must_not_build)
    with pytest.raises(ConfigError, match="is not the file's model"):
        CodingSession.for_decoding(config, registry, check=refuse)


# ----- bytes -----


def test_bytes_round_trip_in_the_callers_shape_and_dtype(
    elbo: CodingSession, images: np.ndarray
) -> None:
    encoded = elbo.encode(images)
    assert isinstance(encoded, Encoded) and bytes(encoded) == encoded.data
    decoded = elbo.decode(encoded)
    assert decoded.dtype == images.dtype and decoded.shape == images.shape
    np.testing.assert_array_equal(decoded, images)
    flat_bool = images.reshape(6, -1).astype(bool)
    np.testing.assert_array_equal(elbo.decode(elbo.encode(flat_bool).data), flat_bool)


def test_the_bits_add_up(elbo: CodingSession, images: np.ndarray) -> None:
    encoded = elbo.encode(images, ideal=True, fallback="never")  # six images: else classical
    dims = images.size
    assert (encoded.num_images, encoded.obs_dim, encoded.dims) == (6, 784, dims)
    assert encoded.file_bits == 8 * len(encoded.data)
    assert encoded.initial_bits == encoded.total_bits - encoded.net_bits
    assert encoded.net_bits < encoded.total_bits < encoded.file_bits
    assert math.isclose(encoded.net_bpd * dims, encoded.net_bits)
    assert encoded.ideal_bpd is not None and math.isclose(
        encoded.ideal_bpd, elbo.ideal_bits(images) / dims
    )
    assert elbo.encode(images).ideal_bits is None  # the bound costs a network pass: only on request


def test_bits_are_those_of_bitsback_run(registry: Registry) -> None:
    """Same images and settings as ``run_compression``: same net, total and ideal bits."""
    config = Config.from_mapping(
        {
            "train_config": str(IWAE5 / "train_config.yml"),
            "coder": "ISBitsBackCoder",
            "num_particles": 3,
            "num_compress": 5,
            "chains": 2,
            "lanes": 2,
        }
    )
    expected = run_compression(config, registry)
    s = CodingSession.from_config(config, registry)
    x = load_images(config, registry)
    encoded = s.encode(x, ideal=True, fallback="never")
    # A one-frame file holds exactly the message ``run`` codes (frame 0 uses the file's seed).
    assert encoded.net_bits == expected.net_bits
    assert encoded.total_bits == expected.total_bits
    assert encoded.ideal_bpd is not None and math.isclose(
        encoded.ideal_bpd, expected.ideal_bpd, rel_tol=1e-12
    )


# ----- files -----


def test_encode_writes_the_bytes_compress_writes(
    elbo: CodingSession, images: np.ndarray, tmp_path: Path, registry: Registry
) -> None:
    path = tmp_path / "x.bbz"
    result = elbo.compress_file(images, path)
    encoded = elbo.encode(images)
    assert path.read_bytes() == encoded.data
    assert (result.net_bits, result.total_bits) == (encoded.net_bits, encoded.total_bits)
    np.testing.assert_array_equal(elbo.decompress_file(path), images)
    # And the command's own decoder, finding the model by identity, reads it too.
    np.testing.assert_array_equal(decompress_file(path, registry)[0], images)
    with pytest.raises(FileExistsError):
        elbo.compress_file(images[:2], path)
    assert path.read_bytes() == encoded.data  # nothing overwritten


def test_frames_round_trip(elbo: CodingSession, images: np.ndarray) -> None:
    encoded = elbo.encode(images, frame_images=4)
    assert CompressedFile.from_bytes(encoded.data).header.num_frames == 2
    np.testing.assert_array_equal(elbo.decode(encoded), images)


def test_a_blob_decodes_by_its_header_not_by_the_sessions_options(
    registry: Registry, images: np.ndarray
) -> None:
    encoder = CodingSession.open(
        model=IWAE5, coder="ISBitsBackCoder", registry=registry, num_particles=2
    )
    decoder = CodingSession.open(model=IWAE5, coder="BitsBackCoder", registry=registry)
    np.testing.assert_array_equal(decoder.decode(encoder.encode(images[:3])), images[:3])


# ----- classes from a script -----


def test_a_coder_class_defined_here_is_registered_and_codes(images: np.ndarray) -> None:
    from bitsback_mcbits.coders import BitsBackCoder

    steps: list[int] = []

    class CountingCoder(BitsBackCoder):
        """BB-ELBO that counts the steps it encodes (a subclass changes no bit)."""

        PLUGIN_NAME = "SessionTestCountingCoder"
        ALIASES = ()

        def encode(self, message, x, step, active=None):  # type: ignore[no-untyped-def]
            steps.append(step)
            super().encode(message, x, step, active)

    registry = load_registry()
    s = CodingSession.open(model=ELBO, coder=CountingCoder, registry=registry, chains=2)
    entry = registry.entry("coder", "SessionTestCountingCoder")
    assert entry.cls is CountingCoder and entry.plugin == "session"
    assert isinstance(s.coder, CountingCoder)
    encoded = s.encode(images, fallback="never")
    assert steps == [0, 1, 2]  # 6 images over 2 chains
    np.testing.assert_array_equal(s.decode(encoded), images)
    stock = CodingSession.open(model=ELBO, coder="BitsBackCoder", registry=registry, chains=2)
    assert encoded.net_bits == stock.encode(images, fallback="never").net_bits
    # Opening again with the same class reuses its entry instead of clashing with itself.
    assert (
        CodingSession.open(model=ELBO, coder=CountingCoder, registry=registry).config.coder
        == entry.name
    )


def test_a_proposal_class_defined_here_is_used(images: np.ndarray) -> None:
    from bitsback_vae.proposals import AmortizedProposal

    calls: list[int] = []

    class WatchedProposal(AmortizedProposal):
        PLUGIN_NAME = "session-test-watched"

        def __call__(self, x, seed=0):  # type: ignore[no-untyped-def]
            calls.append(x.shape[0])
            return super().__call__(x, seed)

    s = CodingSession.open(
        model=ELBO, coder="BitsBackCoder", proposal=WatchedProposal, registry=load_registry()
    )
    assert s.config.proposal == "session-test-watched" and not s.config.iterative_post_improvement
    encoded = s.encode(images[:2])
    assert calls  # the session's encoder asked it for q(z|x)
    assert CompressedFile.from_bytes(encoded.data).header.proposal == "session-test-watched"
    np.testing.assert_array_equal(s.decode(encoded), images[:2])


def test_the_iterative_proposal_by_name_sets_its_flag(registry: Registry) -> None:
    s = CodingSession.open(
        model=ELBO, proposal="iterative", registry=registry, iterative_improvement_steps=2
    )
    assert s.config.iterative_post_improvement and s.config.iterative_improvement_steps == 2


# ----- errors -----


def test_bad_names_and_options_are_one_line_errors(registry: Registry, elbo: CodingSession) -> None:
    with pytest.raises(
        UnknownComponentError, match=r"unknown coder 'ISBitsBackCoderr'; did you mean"
    ):
        CodingSession.open(model=ELBO, coder="ISBitsBackCoderr", registry=registry)
    with pytest.raises(UnknownComponentError, match="unknown proposal"):
        CodingSession.open(model=ELBO, proposal="nope", registry=registry)
    with pytest.raises(ConfigError, match="unknown config key 'num_particels'.*num_particles"):
        CodingSession.open(model=ELBO, registry=registry, num_particels=5)
    with pytest.raises(ConfigError, match="num_particles"):
        CodingSession.open(model=ELBO, registry=registry, num_particles=0)
    with pytest.raises(ConfigError, match="unknown model"):
        CodingSession.open(model="checkpoints/missing.pt", registry=registry)
    with pytest.raises(ConfigError, match="Coder subclass, got a BitsBackCoder instance"):
        CodingSession.open(model=ELBO, coder=elbo.coder, registry=registry)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown arithmetic"):
        CodingSession.open(model=ELBO, registry=registry, arithmetic="decimal")


def test_a_class_clashing_with_an_installed_name_is_refused(registry: Registry) -> None:
    from bitsback_mcbits.coders import BitsBackCoder

    class Impostor(BitsBackCoder):
        PLUGIN_NAME = "BitsBackCoder"

    with pytest.raises(PluginError, match="clashes with"):
        CodingSession.open(model=ELBO, coder=Impostor, registry=load_registry())


def test_bad_input_is_refused(elbo: CodingSession, images: np.ndarray, registry: Registry) -> None:
    with pytest.raises(ConfigError, match="binary"):
        elbo.encode(images * 2)
    with pytest.raises(ConfigError, match="784 pixels"):
        elbo.encode(images[:, :14])
    with pytest.raises(ContainerError):
        elbo.decode(b"not a bitsback file")
    other = CodingSession.open(model=IWAE5, coder="BitsBackCoder", registry=registry)
    with pytest.raises(ConfigError, match="is not the one"):
        other.decode(elbo.encode(images[:2], fallback="never"))  # classical frames need no model
