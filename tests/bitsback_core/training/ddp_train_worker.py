"""One rank of the distributed-training test, started by ``torch.distributed.run``.

Usage: ``ddp_train_worker.py DATADIR LOGDIR OUTDIR EPOCHS``. Trains the BinaryVAE on the
tiny dataset in DATADIR through :func:`train_model` (which joins the process group from
the torchrun environment) and saves this rank's final weights to
``OUTDIR/rank<RANK>.pt``, so the test can check that every rank ends with the same
weights. Not a test module itself (pytest does not collect it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from bitsback_core.config import Config
from bitsback_core.registry import load_registry
from bitsback_core.training import train_model


def main(argv: list[str]) -> int:
    datadir, logdir, outdir, epochs = argv
    torch.set_num_threads(1)
    config = Config(
        datadir=datadir,
        logdir=logdir,
        exp_name="ddp",
        epochs=int(epochs),
        batch_size=8,
        bound="IWAE",
        num_particles=2,
        gpu=-1,
    )
    result = train_model(config, load_registry(), test_images=16)
    rank = os.environ["RANK"]
    result.model.save(Path(outdir) / f"rank{rank}.pt")
    (Path(outdir) / f"rank{rank}.txt").write_text(
        f"{result.world_size} {result.epochs_done} {result.best_test_bpd}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
