"""The learning-rate schedule and optimizer settings of the paper's training runs.

The paper trains as the IWAE paper (Burda et al. 2016) does: eight stages, stage ``i``
lasting ``3**i`` epochs at learning rate ``lr * 10**(-i/7)``, 3280 epochs in all. That is
a multi-step schedule whose milestones are the cumulative stage lengths (1, 4, 13, 40,
121, 364, 1093) with a factor of ``10**(-1/7)`` at each.

The rate is computed from the epoch number rather than kept in a stateful scheduler
object, so a resumed run gets exactly the rate an uninterrupted one would, with nothing
extra to save. Pure Python: no torch here.
"""

from __future__ import annotations

from bitsback_core.errors import ConfigError

__all__ = [
    "IWAE_GAMMA",
    "IWAE_MILESTONES",
    "IWAE_STAGES",
    "OPTIMIZERS",
    "SCHEDULERS",
    "check_optimizer",
    "check_scheduler",
    "iwae_milestones",
    "lr_at_epoch",
]

#: Number of stages of the IWAE schedule.
IWAE_STAGES = 8
#: Factor applied to the learning rate at each milestone.
IWAE_GAMMA = 10.0 ** (-1.0 / 7.0)
#: Optimizers the trainer builds (Adam, as the paper).
OPTIMIZERS = ("Adam",)
#: ``multi_step``: the IWAE schedule; ``constant``: the base rate throughout.
SCHEDULERS = ("multi_step", "constant")


def iwae_milestones(stages: int = IWAE_STAGES) -> tuple[int, ...]:
    """Epochs (0-based) at which the IWAE schedule lowers the rate: 1, 4, 13, ... .

    Stage ``i`` lasts ``3**i`` epochs, so the milestones are the cumulative sums
    ``(3**(i+1) - 1) / 2`` for ``i < stages - 1``; the last stage ends at epoch
    ``(3**stages - 1) / 2`` (3280 for eight stages), the paper's ``epochs``.
    """
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        raise ValueError(f"stages must be a positive int, got {stages!r}")
    return tuple((3 ** (i + 1) - 1) // 2 for i in range(stages - 1))


IWAE_MILESTONES = iwae_milestones()


def check_scheduler(name: str) -> None:
    """Raise a ConfigError unless ``name`` is a scheduler the trainer knows."""
    if name not in SCHEDULERS:
        raise ConfigError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}")


def check_optimizer(name: str) -> None:
    """Raise a ConfigError unless ``name`` is an optimizer the trainer builds."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def lr_at_epoch(
    epoch: int,
    base_lr: float,
    scheduler: str = "multi_step",
    milestones: tuple[int, ...] = IWAE_MILESTONES,
    gamma: float = IWAE_GAMMA,
) -> float:
    """The learning rate used during 0-based ``epoch``.

    Identical to ``torch.optim.lr_scheduler.MultiStepLR`` stepped once after every epoch:
    the rate is ``base_lr * gamma**m`` with ``m`` the number of milestones ``<= epoch``.
    """
    check_scheduler(scheduler)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    if scheduler == "constant":
        return float(base_lr)
    passed = sum(1 for m in milestones if m <= epoch)
    return float(base_lr) * gamma**passed
