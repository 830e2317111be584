"""The BinaryVAE in portable arithmetic: quantization, the two evaluators, and coding with it.

Run on a randomly initialized network and, where ``../shared`` holds it, on the paper's
BB-IS(50) mnist checkpoint (through the ``paper_checkpoint`` fixture of this folder's
conftest, which skips when the shared folder is absent).
"""

from __future__ import annotations

import copy
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_core.distributions import Bernoulli
from bitsback_core.distributions.fixed_gaussian import FixedGaussian, FixedGaussianParams
from bitsback_core.portable.formats import ACT_BITS, EXACT_BOUND, LATENT_BITS, LOGIT_BITS
from bitsback_core.portable.tables import normal_quantiles
from bitsback_mcbits.coders import BitsBackCoder, CISBitsBackCoder, ISBitsBackCoder, StochasticCoder
from bitsback_mcbits.discretizer import MaxEntropyDiscretizer
from bitsback_vae.model import BinaryVAE, PortableBinaryVAE
from bitsback_vae.network import BinaryVAENetwork
from bitsback_vae.portable import (
    DECODER,
    ENCODER,
    PortableNetwork,
    TorchEvaluator,
    quantize_network,
)
from bitsback_vae.portable_numpy import numpy_decode, numpy_encode
from bitsback_vae.proposals import AmortizedProposal

PAPER_RUN = "train_bin_emnist_split=mnist_num=50"
#: What each layer's input can be at most (integer units), restated from the module's plan:
#: binary pixels, tanh outputs (|h| <= 1 at ACT_BITS), bucket centres (|z| <= 8 at LATENT_BITS).
IN_BITS_AND_BOUND = {
    "enc_fc1": (0, 1),
    "enc_fc2": (ACT_BITS, 1 << ACT_BITS),
    "enc_fc31": (ACT_BITS, 1 << ACT_BITS),
    "enc_fc32": (ACT_BITS, 1 << ACT_BITS),
    "dec_fc1": (LATENT_BITS, 8 << LATENT_BITS),
    "dec_fc2": (ACT_BITS, 1 << ACT_BITS),
    "dec_fc3": (ACT_BITS, 1 << ACT_BITS),
}
#: Network format 2: the decoder's hidden products are exact in float32.
NARROW = {"dec_fc2": (8, 1 << 8), "dec_fc3": (8, 1 << 8)}
CPU = torch.device("cpu")


def random_network(seed: int = 0) -> BinaryVAENetwork:
    torch.manual_seed(seed)
    return BinaryVAENetwork(50)


@pytest.fixture(scope="module", params=["random", "paper"])
def network(request: pytest.FixtureRequest) -> BinaryVAENetwork:
    if request.param == "random":
        return random_network()
    path: Path = request.getfixturevalue("paper_checkpoint")(PAPER_RUN)
    if not path.is_file():
        pytest.skip(f"paper checkpoint not available at {path}")
    return BinaryVAE.from_config({"latent_dim": 50}, checkpoint=path).network


@pytest.fixture(scope="module", params=[1, 2], ids=["format1", "format2"])
def portable(network: BinaryVAENetwork, request: pytest.FixtureRequest) -> PortableNetwork:
    return quantize_network(network, request.param)


def binary_images(rng: np.random.Generator, n: int) -> np.ndarray:
    x = (rng.random((n, 784)) < rng.uniform(0.05, 0.6, (n, 1))).astype(np.int64)
    x[0], x[1] = 0, 1  # blank and saturated images
    return x


def bucket_centres(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = normal_quantiles(8)[1]
    idx = rng.integers(0, 256, (n, 50))
    idx[0], idx[1] = 0, 255  # the most extreme latents
    return centres[idx]


def worst_case(layer_weight: np.ndarray, layer_bias: np.ndarray, in_bound: int) -> int:
    """``max_row sum |w| * in_bound + |b|`` in Python integers (no overflow possible)."""
    row_sums = np.abs(layer_weight).sum(axis=1, dtype=np.int64)  # < 784 * 2**52: fits
    return max(int(s) * in_bound + abs(int(b)) for s, b in zip(row_sums, layer_bias))


# ------------------------------------------------------------------ quantization


def test_quantization_is_deterministic(
    network: BinaryVAENetwork, portable: PortableNetwork
) -> None:
    again = quantize_network(copy.deepcopy(network), portable.format)
    assert again.sha256() == portable.sha256()
    assert len(portable.sha256()) == 64
    for name in ENCODER + DECODER:
        a, b = portable.layers[name], again.layers[name]
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.in_bits, a.weight_bits) == (b.in_bits, b.weight_bits)


def test_every_layer_is_exact_at_the_finest_scale(
    network: BinaryVAENetwork, portable: PortableNetwork
) -> None:
    """The worst case of every layer is below 2**52 (format 2's narrow decoder layers:
    2**24, float32's exact range), with the largest weight scale that allows."""
    assert sorted(portable.layers) == sorted(ENCODER + DECODER) and portable.latent_dim == 50
    for name in ENCODER + DECODER:
        layer = portable.layers[name]
        narrow = portable.format == 2 and name in NARROW
        in_bits, in_bound = (NARROW if narrow else IN_BITS_AND_BOUND)[name]
        bound = 2**24 if narrow else EXACT_BOUND
        assert layer.products == ("float32" if narrow else "float64")
        assert layer.in_bits == in_bits and 0 <= layer.weight_bits <= 32
        assert layer.weight.dtype == np.int64 and layer.bias.dtype == np.int64
        assert worst_case(layer.weight, layer.bias, in_bound) < bound, name
        w = getattr(network, name).weight.detach().double().numpy()
        b = getattr(network, name).bias.detach().double().numpy()
        np.testing.assert_array_equal(layer.weight, np.rint(w * 2.0**layer.weight_bits))
        np.testing.assert_array_equal(layer.bias, np.rint(b * 2.0 ** (layer.weight_bits + in_bits)))
        if layer.weight_bits < 32:  # one more bit would break the bound
            finer = layer.weight_bits + 1
            w_f = np.rint(w * 2.0**finer).astype(np.int64)
            b_f = np.rint(b * 2.0 ** (finer + in_bits)).astype(np.int64)
            assert worst_case(w_f, b_f, in_bound) >= bound, name
    # The bound on the decoder's input covers every bucket centre.
    assert np.abs(normal_quantiles(8)[1]).max() <= IN_BITS_AND_BOUND["dec_fc1"][1]


@pytest.mark.parametrize("scale", [6.0, 10.0, 300.0])
def test_large_weights_still_get_an_exact_quantization(scale: float) -> None:
    """Weights big enough that the 32-bit scale's worst case overflows int64 (a sum of
    |w| over 50 latents of 300+ at 2**55): the check must not wrap around and pass."""
    net = random_network(1)
    with torch.no_grad():
        net.dec_fc1.weight.fill_(scale)
        net.dec_fc1.bias.fill_(-scale)
    layer = quantize_network(net).layers["dec_fc1"]
    assert worst_case(layer.weight, layer.bias, IN_BITS_AND_BOUND["dec_fc1"][1]) < EXACT_BOUND
    assert layer.weight_bits < 26


def test_unquantizable_weights_are_refused() -> None:
    net = random_network(2)
    with torch.no_grad():
        net.enc_fc2.weight.fill_(2.0**40)  # 200 * 2**40 * 2**16 > 2**52 even at scale 1
    with pytest.raises(ValueError, match="too large"):
        quantize_network(net)
    net = random_network(2)
    with torch.no_grad():
        net.dec_fc3.bias[7] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        quantize_network(net)


def test_identity_changes_when_one_integer_changes(portable: PortableNetwork) -> None:
    base = portable.sha256()
    version = portable.format
    assert PortableNetwork(dict(portable.layers), portable.latent_dim, version).sha256() == base

    def changed(name: str, **fields: object) -> str:
        layers = dict(portable.layers)
        layers[name] = attrs.evolve(layers[name], **fields)
        return PortableNetwork(layers, portable.latent_dim, version).sha256()

    seen = {base}
    for name, (r, c) in [
        ("enc_fc1", (0, 0)),
        ("dec_fc2", (3, 5)),
        ("dec_fc3", (783, 199)),
        ("enc_fc32", (49, 17)),
    ]:
        w = portable.layers[name].weight.copy()
        w[r, c] += 1
        seen.add(changed(name, weight=w))
        b = portable.layers[name].bias.copy()
        b[r] -= 1
        seen.add(changed(name, bias=b))
    seen.add(changed("dec_fc1", weight_bits=portable.layers["dec_fc1"].weight_bits - 1))
    seen.add(changed("enc_fc2", in_bits=ACT_BITS + 1))
    seen.add(PortableNetwork(dict(portable.layers), 51, version).sha256())
    seen.add(PortableNetwork(dict(portable.layers), portable.latent_dim, 3 - version).sha256())
    if version == 2:  # format 2 also names each layer's product type
        seen.add(changed("dec_fc2", products="float64"))
    assert len(seen) == 1 + 8 + 4 + (version == 2)


# ------------------------------------------------------------------ evaluation


def test_torch_and_numpy_evaluators_agree_element_by_element(portable: PortableNetwork) -> None:
    rng = np.random.default_rng(0)
    x = binary_images(rng, 24)
    z = bucket_centres(rng, 24)
    mean, log_std = numpy_encode(portable, x)
    logits = numpy_decode(portable, z)
    assert mean.dtype == log_std.dtype == logits.dtype == np.int64
    assert mean.shape == log_std.shape == (24, 50) and logits.shape == (24, 784)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            ev = TorchEvaluator(portable, CPU)
            with torch.no_grad():
                t_mean, t_log_std = ev.encode(torch.as_tensor(x))
                t_logits = ev.decode(torch.as_tensor(z))
            assert t_mean.dtype == torch.int64 and t_logits.dtype == torch.int64
            np.testing.assert_array_equal(t_mean.numpy(), mean)
            np.testing.assert_array_equal(t_log_std.numpy(), log_std)
            np.testing.assert_array_equal(t_logits.numpy(), logits)
    finally:
        torch.set_num_threads(before)
    # One image at a time gives what the batch gives (no batch-shape dependence).
    ev = TorchEvaluator(portable, CPU)
    with torch.no_grad():
        for i in (0, 1, 13):
            np.testing.assert_array_equal(
                ev.encode(torch.as_tensor(x[i : i + 1]))[0].numpy(), mean[i : i + 1]
            )
            np.testing.assert_array_equal(
                ev.decode(torch.as_tensor(z[i : i + 1])).numpy(), logits[i : i + 1]
            )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_the_gpu_evaluator_gives_the_same_integers(portable: PortableNetwork) -> None:
    """float64 GPU BLAS on integer operands below 2**52 is exact: the CPU's integers."""
    rng = np.random.default_rng(6)
    x = binary_images(rng, 64)
    z = bucket_centres(rng, 64)
    cuda = torch.device("cuda")
    ev = TorchEvaluator(portable, cuda)
    with torch.no_grad():
        mean, log_std = ev.encode(torch.as_tensor(x, device=cuda))
        logits = ev.decode(torch.as_tensor(z, device=cuda))
    want_mean, want_log_std = numpy_encode(portable, x)
    np.testing.assert_array_equal(mean.cpu().numpy(), want_mean)
    np.testing.assert_array_equal(log_std.cpu().numpy(), want_log_std)
    np.testing.assert_array_equal(logits.cpu().numpy(), numpy_decode(portable, z))


def test_outputs_are_close_to_the_float_network(
    network: BinaryVAENetwork, portable: PortableNetwork
) -> None:
    rng = np.random.default_rng(1)
    x = binary_images(rng, 32)
    z = bucket_centres(rng, 32)
    mean, log_std = numpy_encode(portable, x)
    logits = numpy_decode(portable, z)
    exact = copy.deepcopy(network).double()
    with torch.no_grad():
        f_mean, f_log_std = exact.encode(torch.as_tensor(x, dtype=torch.float64))
        f_logits = exact.decode(torch.as_tensor(z / 2.0**LATENT_BITS))
    np.testing.assert_allclose(mean / 2.0**LATENT_BITS, f_mean.numpy(), rtol=0, atol=1e-3)
    np.testing.assert_allclose(log_std / 2.0**LATENT_BITS, f_log_std.numpy(), rtol=0, atol=1e-3)
    if portable.format == 1:
        np.testing.assert_allclose(logits / 2.0**LOGIT_BITS, f_logits.numpy(), rtol=0, atol=1e-2)
        return
    # Format 2 rounds the decoder's activations to 2**-8 and its weights to about 2**-9:
    # logits move by up to ~0.1 (measured 0.113 on the paper's model, at logits near -12
    # where that is 1e-6 of a bit), and what coding pays, the coins' bits, barely moves.
    np.testing.assert_allclose(logits / 2.0**LOGIT_BITS, f_logits.numpy(), rtol=0, atol=0.25)
    ones = rng.random(logits.shape) < 0.5
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        f_logits, torch.as_tensor(ones, dtype=torch.float64), reduction="sum"
    )
    got = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.as_tensor(logits / 2.0**LOGIT_BITS),
        torch.as_tensor(ones, dtype=torch.float64),
        reduction="sum",
    )
    assert abs(float(got - want)) / logits.size < 1e-3  # nats per pixel


def test_the_portable_model_wraps_the_evaluator(
    network: BinaryVAENetwork, portable: PortableNetwork
) -> None:
    model = BinaryVAE(copy.deepcopy(network)).portable(portable.format)
    assert isinstance(model, PortableBinaryVAE) and model.portable() is model
    assert model.portable_format == portable.format
    assert model.identity() == portable.sha256() and model.arithmetic == "portable"
    rng = np.random.default_rng(2)
    x = binary_images(rng, 6).astype(np.uint8)
    post = model.posterior(x)
    assert isinstance(post, FixedGaussianParams)
    mean, log_std = numpy_encode(portable, x)
    np.testing.assert_array_equal(post.mean, mean)
    np.testing.assert_array_equal(post.log_std, log_std)
    z = bucket_centres(rng, 6)
    coins = model.likelihood(z, 16)
    assert isinstance(coins, Bernoulli)
    want = Bernoulli.from_fixed_logits(numpy_decode(portable, z), 16)
    x = binary_images(rng, 2)
    np.testing.assert_array_equal(coins.sum_log2_rows(x, 3), want.sum_log2_rows(x, 3))
    np.testing.assert_array_equal(coins.count_one, want.count_one)
    with pytest.raises(ValueError, match="integers"):
        model.likelihood_logits(z / 2.0**LATENT_BITS)
    with pytest.raises(ValueError):
        model.likelihood_logits(z[:, :49])


# ------------------------------------------------------------------ coding


def assert_back_at_the_start(decoded: Message, fresh: Message) -> None:
    """Decoding undid everything: the starting heads, and on the stacks exactly the initial
    words the encoder drew (bits-back coders pop from an empty message)."""
    np.testing.assert_array_equal(decoded.head, fresh.head)
    assert decoded.is_initial_state()


CODERS = [(BitsBackCoder, 1), (ISBitsBackCoder, 3), (CISBitsBackCoder, 3), (StochasticCoder, 1)]


@pytest.fixture(scope="module")
def float_model() -> BinaryVAE:
    return BinaryVAE(random_network(3))


def make_coder(float_model: BinaryVAE, cls: type, num_particles: int) -> object:
    model = float_model.portable()
    return cls(
        model,
        AmortizedProposal(model),
        MaxEntropyDiscretizer(arithmetic="portable"),
        num_particles=num_particles,
        seed=11,
    )


@pytest.mark.parametrize(("cls", "num_particles"), CODERS, ids=[c.PLUGIN_NAME for c, _ in CODERS])
def test_coders_round_trip_in_portable_arithmetic(
    float_model: BinaryVAE, cls: type, num_particles: int
) -> None:
    """Encode 6 images (2 chains x 2 lanes), decode from the bytes with a separately
    quantized copy of the model, and end at the starting state."""
    rng = np.random.default_rng(4)
    x = (rng.random((6, 784)) < 0.3).astype(np.uint8)
    layout = ChainLayout(6, 2, 2)
    encoder = make_coder(float_model, cls, num_particles)
    assert isinstance(encoder.posterior(encoder.posterior_params(x[:2], 0)), FixedGaussian)
    message = encode_dataset(encoder, x, layout, Message((2, 2), seed=7))
    data = message.to_frame_bytes()
    assert message.total_bits > 0
    decoder = make_coder(BinaryVAE(copy.deepcopy(float_model.network)), cls, num_particles)
    received = message.reread()
    decoded = decode_dataset(decoder, received, layout, 784)
    np.testing.assert_array_equal(decoded, x)
    assert_back_at_the_start(received, Message((2, 2), seed=7))
    # Encoding again gives the same bytes.
    again = encode_dataset(
        make_coder(float_model, cls, num_particles), x, layout, Message((2, 2), seed=7)
    )
    assert again.to_frame_bytes() == data


def test_a_partial_last_step_round_trips(float_model: BinaryVAE) -> None:
    """5 images over 2 chains: the last step has an inactive chain (placeholder particles)."""
    rng = np.random.default_rng(5)
    x = (rng.random((5, 784)) < 0.2).astype(np.uint8)
    layout = ChainLayout(5, 2, 3)
    coder = make_coder(float_model, CISBitsBackCoder, 3)
    message = encode_dataset(coder, x, layout, Message((2, 3), seed=8))
    received = message.reread()
    np.testing.assert_array_equal(decode_dataset(coder, received, layout, 784), x)
    assert_back_at_the_start(received, Message((2, 3), seed=8))


def test_a_portable_discretizer_refuses_float_posteriors() -> None:
    from bitsback_core.models.interface import GaussianParams

    disc = MaxEntropyDiscretizer(arithmetic="portable")
    with pytest.raises(TypeError, match="fixed-point"):
        disc.posterior(GaussianParams(mean=np.zeros((1, 50)), std=np.ones((1, 50))))
    np.testing.assert_array_equal(
        disc.values(np.array([[0, 255]])), normal_quantiles(8)[1][[[0, 255]]]
    )


@pytest.mark.parametrize("version", [1, 2])
def test_fused_cpu_passes_equal_the_tensor_operations(version: int) -> None:
    """The CPU's compiled integer passes and the tensor operations a GPU runs give the same integers."""
    from bitsback_core.portable.tables import normal_quantiles
    from bitsback_vae.network import BinaryVAENetwork
    from bitsback_vae.portable import TorchEvaluator, quantize_network

    torch.manual_seed(3)
    net = quantize_network(BinaryVAENetwork(50), version)
    fused = TorchEvaluator(net, torch.device("cpu"))
    plain = TorchEvaluator(net, torch.device("cpu"), fused=False)
    assert fused.fused and not plain.fused
    rng = np.random.default_rng(5)
    x = torch.as_tensor((rng.random((9, 784)) < 0.3).astype(np.int64))
    z = torch.as_tensor(normal_quantiles(8)[1][rng.integers(0, 256, (9, 50))])
    for a, b in zip(fused.encode(x), plain.encode(x)):
        assert a.dtype == b.dtype == torch.int64
        assert torch.equal(a, b)
    assert torch.equal(fused.decode(z), plain.decode(z))
    acc, shift = fused.decode_accumulator(z)
    assert acc.dtype == (np.float64 if version == 1 else np.float32)
    assert shift == net.layers["dec_fc3"].acc_bits - LOGIT_BITS
    a = torch.as_tensor(acc.astype(np.int64))
    assert torch.equal((a + (1 << (shift - 1))) >> shift, fused.decode(z))
    with pytest.raises(ValueError, match="fused"):
        plain.decode_accumulator(z)


def test_reduced_precision_float32_products_fall_back_to_float64() -> None:
    """A process that lets torch round float32 products (bfloat16 or TF32 matmuls) must
    not code with them: the narrow layers then run in float64, with the same integers."""
    from bitsback_vae.portable import float32_products_are_ieee

    torch.manual_seed(4)
    net = quantize_network(BinaryVAENetwork(50), 2)
    ev = TorchEvaluator(net, CPU)
    z = bucket_centres(np.random.default_rng(6), 7)
    want = numpy_decode(net, z)
    before = torch.get_float32_matmul_precision()
    assert before == "highest" and float32_products_are_ieee()
    try:
        torch.set_float32_matmul_precision("medium")
        assert not float32_products_are_ieee()
        assert ev._accumulate("dec_fc3", torch.zeros((1, 200))).dtype == torch.float64
        np.testing.assert_array_equal(ev.decode(torch.as_tensor(z)).numpy(), want)
    finally:
        torch.set_float32_matmul_precision(before)
    assert ev._accumulate("dec_fc3", torch.zeros((1, 200))).dtype == torch.float32
    np.testing.assert_array_equal(ev.decode(torch.as_tensor(z)).numpy(), want)


def test_a_last_layer_coarser_than_the_logits_codes_from_the_logits() -> None:
    """Large ``dec_fc3`` weights leave format 2 fewer than ``LOGIT_BITS`` fraction bits in
    the last product: the coins then come from the rescaled logits (the kernels only round)."""
    torch.manual_seed(5)
    model = BinaryVAE(BinaryVAENetwork(50))
    with torch.no_grad():
        model.network.dec_fc3.weight.fill_(2.0)
    portable = model.portable(2)
    ev = portable._evaluator
    assert ev.logit_shift < 0
    z = bucket_centres(np.random.default_rng(8), 5)
    with pytest.raises(ValueError, match="at least LOGIT_BITS"):
        ev.decode_accumulator(torch.as_tensor(z))
    coins = portable.likelihood(z, 16)
    want = Bernoulli.from_fixed_logits(numpy_decode(portable.net, z), 16)
    np.testing.assert_array_equal(coins.count_one, want.count_one)


def test_the_models_format_list_is_the_quantizers() -> None:
    """``BinaryVAE.PORTABLE_FORMATS`` restates the quantizer's list (to keep numba unloaded)."""
    from bitsback_vae.portable import PORTABLE_FORMATS

    assert BinaryVAE.PORTABLE_FORMATS == PortableBinaryVAE.PORTABLE_FORMATS == PORTABLE_FORMATS
