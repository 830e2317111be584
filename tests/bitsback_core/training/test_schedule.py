"""The IWAE learning-rate schedule: stage lengths, rates, and agreement with MultiStepLR."""

from __future__ import annotations

import math

import pytest
import torch

from bitsback_core.errors import ConfigError
from bitsback_core.training.schedule import (
    IWAE_GAMMA,
    IWAE_MILESTONES,
    check_optimizer,
    iwae_milestones,
    lr_at_epoch,
)


def test_milestones_are_cumulative_stage_lengths() -> None:
    assert IWAE_MILESTONES == (1, 4, 13, 40, 121, 364, 1093)
    assert iwae_milestones(3) == (1, 4)
    assert iwae_milestones(1) == ()
    # the eight stages of 3**i epochs add up to the seed's epochs: 3280
    assert sum(3**i for i in range(8)) == 3280 == IWAE_MILESTONES[-1] + 3**7


def test_stage_i_runs_three_to_the_i_epochs_at_lr_times_ten_to_minus_i_over_seven() -> None:
    epoch = 0
    for stage in range(8):
        expected = 1e-3 * 10 ** (-stage / 7)
        for _ in range(3**stage):
            assert lr_at_epoch(epoch, 1e-3) == pytest.approx(expected, rel=1e-12)
            epoch += 1
    assert epoch == 3280
    assert lr_at_epoch(3279, 1e-3) == pytest.approx(1e-4, rel=1e-12)
    assert IWAE_GAMMA**7 == pytest.approx(0.1, rel=1e-12)


def test_same_rates_as_torch_multisteplr_stepped_every_epoch() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(IWAE_MILESTONES), gamma=IWAE_GAMMA)
    for epoch in range(130):
        assert lr_at_epoch(epoch, 1e-3) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


def test_constant_schedule_and_errors() -> None:
    assert lr_at_epoch(500, 0.01, "constant") == 0.01
    with pytest.raises(ConfigError, match="scheduler must be one of"):
        lr_at_epoch(0, 1e-3, "cosine")
    with pytest.raises(ValueError, match="epoch"):
        lr_at_epoch(-1, 1e-3)
    with pytest.raises(ValueError, match="stages"):
        iwae_milestones(0)
    with pytest.raises(ConfigError, match="optimizer must be one of Adam"):
        check_optimizer("SGD")
    assert not math.isnan(lr_at_epoch(10**6, 1e-3))
