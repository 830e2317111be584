"""The DifferentiableModel training methods, as BinaryVAE implements them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitsback_core.models.interface import DifferentiableModel
from bitsback_vae.bounds import loss
from bitsback_vae.model import BinaryVAE


@pytest.fixture
def model() -> BinaryVAE:
    torch.manual_seed(0)
    return BinaryVAE.from_config({"latent_dim": 6})


def test_torch_module_is_the_trainable_network(model: BinaryVAE) -> None:
    module = model.torch_module()
    assert isinstance(module, torch.nn.Module) and module is model.network
    assert {n for n, _ in module.named_parameters()} >= {"enc_fc1.weight", "dec_fc3.bias"}


@pytest.mark.parametrize("bound,k", [("ELBO", 1), ("IWAE", 4)])
def test_torch_loss_is_the_plugins_bound(model: BinaryVAE, bound: str, k: int) -> None:
    x = (torch.rand(5, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    ours = model.torch_loss(x, bound, k, torch.Generator().manual_seed(9))
    reference = loss(model.network, x, bound, k, torch.Generator().manual_seed(9))
    assert ours.shape == () and torch.equal(ours, reference)
    ours.backward()
    assert model.network.enc_fc1.weight.grad is not None  # differentiable
    # uint8 input is accepted and cast
    again = model.torch_loss(x.to(torch.uint8), bound, k, torch.Generator().manual_seed(9))
    assert torch.equal(again.detach(), reference.detach())


def test_initialize_from_data_sets_the_clipped_logit(model: BinaryVAE) -> None:
    mean = np.linspace(0.0, 1.0, 784)
    weight_before = model.network.dec_fc3.weight.detach().clone()
    model.initialize_from_data(mean)
    p = np.clip(mean, 1e-3, 1 - 1e-3)
    bias = model.network.dec_fc3.bias.detach().double().numpy()
    np.testing.assert_allclose(bias, np.log(p) - np.log1p(-p), rtol=1e-6, atol=1e-6)
    assert bias[0] == pytest.approx(np.log(1e-3 / (1 - 1e-3)), rel=1e-6)  # never -inf
    assert torch.equal(model.network.dec_fc3.weight, weight_before)  # only the bias


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.full(783, 0.5), "shape"),
        (np.full(784, 1.5), r"\[0, 1\]"),
        (np.full(784, np.nan), r"\[0, 1\]"),
    ],
)
def test_initialize_from_data_rejects_bad_means(
    model: BinaryVAE, bad: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        model.initialize_from_data(bad)


def test_default_initialize_from_data_is_a_no_op() -> None:
    # a model that does not override it keeps its weights (the interface's default)
    default = DifferentiableModel.initialize_from_data
    assert default(object(), np.zeros(3)) is None  # type: ignore[arg-type]
