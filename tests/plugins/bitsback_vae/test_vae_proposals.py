"""Tests for bitsback_vae.proposals: amortized and iterative posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from bitsback_core.models.interface import GaussianParams
from bitsback_core.proposals.interface import Proposal
from bitsback_vae.model import BinaryVAE
from bitsback_vae.proposals import AmortizedProposal, IterativeProposal


def test_amortized_proposal_is_the_encoder(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    proposal = AmortizedProposal(mnist1_model)
    assert isinstance(proposal, Proposal) and proposal.PLUGIN_NAME == "amortized"
    x = emnist_mnist_200[:5]
    got, expected = proposal(x, seed=3), mnist1_model.posterior(x)
    np.testing.assert_array_equal(got.mean, expected.mean)
    np.testing.assert_array_equal(got.std, expected.std)
    with pytest.raises(ValueError, match="no options"):
        AmortizedProposal(mnist1_model, steps=3)


def test_iterative_proposal_is_deterministic_and_improves_the_elbo(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    proposal = IterativeProposal(mnist1_model)
    assert (proposal.steps, proposal.lr) == (50, 0.01)
    x = emnist_mnist_200[:24]
    first, second = proposal(x, seed=9), proposal(x.copy(), seed=9)
    assert isinstance(first, GaussianParams)
    assert first.mean.dtype == first.std.dtype == np.float64
    assert first.mean.shape == first.std.shape == (24, 50)
    np.testing.assert_array_equal(first.mean, second.mean)
    np.testing.assert_array_equal(first.std, second.std)

    amortized = mnist1_model.posterior(x)
    neg_elbo_amortized = -mnist1_model.log_weights(x, 256, seed=1, posterior=amortized).mean()
    neg_elbo_improved = -mnist1_model.log_weights(x, 256, seed=1, posterior=first).mean()
    assert neg_elbo_improved < neg_elbo_amortized - 0.2  # nats per image, averaged


def test_iterative_proposal_depends_on_the_seed_and_zero_steps_is_amortized(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    x = emnist_mnist_200[:4]
    proposal = IterativeProposal(mnist1_model, steps=3)
    assert not np.array_equal(proposal(x, seed=0).mean, proposal(x, seed=1).mean)
    unchanged = IterativeProposal(mnist1_model, steps=0)(x, seed=0)
    amortized = mnist1_model.posterior(x)
    np.testing.assert_array_equal(unchanged.mean, amortized.mean)
    np.testing.assert_array_equal(unchanged.std, amortized.std)


def test_images_in_a_batch_do_not_interact(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    proposal = IterativeProposal(mnist1_model, steps=10)
    x = emnist_mnist_200[:6]
    y = emnist_mnist_200[50:56].copy()
    y[2] = x[2]  # same position, same noise, different neighbours
    a, b = proposal(x, seed=4), proposal(y, seed=4)
    np.testing.assert_allclose(a.mean[2], b.mean[2], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.std[2], b.std[2], rtol=1e-6)


def test_iterative_proposal_leaves_network_gradients_alone(
    mnist1_model: BinaryVAE, emnist_mnist_200: np.ndarray
) -> None:
    IterativeProposal(mnist1_model, steps=2)(emnist_mnist_200[:3])
    assert all(p.grad is None for p in mnist1_model.network.parameters())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"steps": -1}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"learning_rate": 0.1}, "unknown"),
    ],
)
def test_iterative_proposal_rejects_bad_options(
    mnist1_model: BinaryVAE, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        IterativeProposal(mnist1_model, **options)


def test_iterative_proposal_needs_a_differentiable_model(
    mnist1_model: BinaryVAE, opaque_model_class: type
) -> None:
    with pytest.raises(TypeError, match="DifferentiableModel"):
        IterativeProposal(opaque_model_class())
    with pytest.raises(ValueError, match="shape"):
        IterativeProposal(mnist1_model)(np.zeros((2, 10)))
    assert IterativeProposal.ALIASES == ("iterative_inference",)
