"""Training latent-variable models: the paper's recipe for any registered DifferentiableModel.

:func:`train_model` is the entry point (``bitsback train`` is a thin shell over it).
Importing this package does not import torch; calling :func:`train_model` does.
"""

from bitsback_core.training.data import (
    DEFAULT_TEST_IMAGES,
    epoch_batches,
    epoch_images,
    epoch_order,
)
from bitsback_core.training.experiment import (
    EpochRecord,
    ExperimentClashError,
    ExperimentDir,
    default_exp_name,
)
from bitsback_core.training.schedule import (
    IWAE_GAMMA,
    IWAE_MILESTONES,
    iwae_milestones,
    lr_at_epoch,
)
from bitsback_core.training.trainer import BOUNDS, TrainingError, TrainResult, train_model

__all__ = [
    "BOUNDS",
    "DEFAULT_TEST_IMAGES",
    "EpochRecord",
    "ExperimentClashError",
    "ExperimentDir",
    "IWAE_GAMMA",
    "IWAE_MILESTONES",
    "TrainResult",
    "TrainingError",
    "default_exp_name",
    "epoch_batches",
    "epoch_images",
    "epoch_order",
    "iwae_milestones",
    "lr_at_epoch",
    "train_model",
]
