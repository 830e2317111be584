"""Round trips of every coder on a toy model, across chain and lane layouts."""

from __future__ import annotations

import numpy as np
import pytest
from toy import ToyModel, ToyProposal, toy_data

from bitsback_core.ans.message import Message
from bitsback_core.compression import ChainLayout, decode_dataset, encode_dataset
from bitsback_mcbits.coders import BitsBackCoder, CISBitsBackCoder, ISBitsBackCoder, StochasticCoder
from bitsback_mcbits.discretizer import MaxEntropyDiscretizer

CODERS = [StochasticCoder, BitsBackCoder, ISBitsBackCoder, CISBitsBackCoder]


def make_coder(cls, num_particles=1, seed=0):
    model = ToyModel()
    return cls(
        model,
        ToyProposal(model),
        MaxEntropyDiscretizer(log_num_bucket=6, prior_mprec=8, prop_mprec=14),
        num_particles=num_particles,
        prop_mprec=14,
        cond_mprec=12,
        seed=seed,
    )


def round_trip(coder, data, chains, lanes):
    layout = ChainLayout(len(data), chains, lanes)
    message = Message((chains, lanes), seed=7)
    encode_dataset(coder, data, layout, message)
    encoded = message.reread()
    decoded = decode_dataset(coder, encoded, layout, data.shape[1])
    return message, encoded, decoded


@pytest.mark.parametrize("cls", CODERS)
@pytest.mark.parametrize("num_particles", [1, 3])
@pytest.mark.parametrize("chains, lanes", [(1, 1), (3, 1), (4, 5), (2, 13)])
def test_round_trip(cls, num_particles, chains, lanes):
    data = toy_data(11)
    coder = make_coder(cls, num_particles)
    message, encoded, decoded = round_trip(coder, data, chains, lanes)
    np.testing.assert_array_equal(decoded, data)
    # Decoding undoes everything: back at the starting heads, the drawn words on the stacks.
    np.testing.assert_array_equal(encoded.head, Message((chains, lanes), seed=7).head)
    assert encoded.is_initial_state()


def test_bits_back_beats_stochastic_and_is_beats_elbo():
    data = toy_data(300)
    rates = {}
    for cls, n in [
        (StochasticCoder, 1),
        (BitsBackCoder, 1),
        (ISBitsBackCoder, 8),
        (CISBitsBackCoder, 8),
    ]:
        message, _, decoded = round_trip(make_coder(cls, n), data, chains=1, lanes=1)
        np.testing.assert_array_equal(decoded, data)
        rates[(cls.PLUGIN_NAME, n)] = (message.net_bits, message.initial_bits)
    sc = rates[("StochasticCoder", 1)][0]
    bb = rates[("BitsBackCoder", 1)][0]
    is8, is8_init = rates[("ISBitsBackCoder", 8)]
    cis8, cis8_init = rates[("CISBitsBackCoder", 8)]
    assert bb < sc
    assert is8 < bb and cis8 < bb
    assert cis8_init < is8_init
