"""``bitsback train``: train a model as the paper's ``train.py`` does, with resuming.

``bitsback train --config configs/train_bin_emnist.yml [--KEY VALUE ...]`` reads the
seed's training config unchanged; every config key can be overridden (``--split
letters --bound ELBO --num_particles 5 --epochs 100 --max_train_minutes 10``). Output
goes to ``<logdir>/<exp_name>``; see :func:`bitsback_core.training.train_model`. Under
``torchrun`` each rank runs this command; only rank 0 prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitsback_core.cli.options import add_config_options, config_from_args, positive_int

if TYPE_CHECKING:
    from bitsback_core.cli.terminal import Terminal
    from bitsback_core.training import EpochRecord, TrainResult

#: Test images the per-epoch test loss is measured on unless --test_images says otherwise
#: (bitsback_core.training.DEFAULT_TEST_IMAGES; repeated here to keep --help torch-free).
_DEFAULT_TEST_IMAGES = 2000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a model (e.g. the BinaryVAE) on a dataset split",
        description=(
            "Train config.model on config.dataset/split with Adam, the IWAE multi-step "
            "learning-rate schedule and the ELBO or IWAE bound, keeping the weights with "
            "the best test loss. Writes train_config.yml, model.pt, state.pt and log.csv "
            "to <logdir>/<exp_name> and resumes from state.pt when run again."
        ),
    )
    parser.add_argument(
        "--no_resume",
        action="store_true",
        help="start the experiment from scratch even if state.pt exists (same experiment only)",
    )
    parser.add_argument(
        "--test_images",
        type=positive_int,
        default=_DEFAULT_TEST_IMAGES,
        metavar="N",
        help=f"test images for the per-epoch test loss (default {_DEFAULT_TEST_IMAGES})",
    )
    parser.add_argument(
        "--validation_images",
        type=int,
        default=0,
        metavar="N",
        help="hold out the last N training images for model selection instead of the test "
        "split (0: use the test split, as the seed does)",
    )
    parser.add_argument(
        "--init_from",
        type=Path,
        default=None,
        metavar="MODEL_PT",
        help="start a fresh run from these weights (e.g. fine-tune IWAE-50 from an IWAE-5 model)",
    )
    parser.add_argument(
        "--discard_state",
        action="store_true",
        help="delete state.pt when training stops (smaller output; the run cannot resume)",
    )
    add_config_options(
        parser,
        groups=("data", "model", "training", "output"),
        extra=("num_particles", "gpu"),  # IWAE's particles; where the network trains
        omit=("num_compress", "train_config", "checkpoint"),  # --test_images, --init_from
    )
    return parser


def _epoch_line(record: EpochRecord, total: int) -> str:
    best = "  *best*" if record.is_best else ""
    return (
        f"epoch {record.epoch}/{total}  lr {record.lr:.3g}  train {record.train_bpd:.4f}  "
        f"test {record.test_bpd:.4f} bits/dim  ({record.seconds:.1f} s){best}"
    )


def _as_json(result: TrainResult) -> dict[str, Any]:
    return {
        "expdir": str(result.expdir),
        "checkpoint": str(result.checkpoint),
        "train_config": str(result.config_path),
        "device": result.device,
        "world_size": result.world_size,
        "start_epoch": result.start_epoch,
        "epochs_run": result.epochs_run,
        "epochs_done": result.epochs_done,
        "epochs_total": result.epochs_total,
        "train_images": result.train_images,
        "test_images": result.test_images,
        "best_test_bpd": result.best_test_bpd,
        "best_epoch": result.best_epoch,
        "last_train_bpd": result.last_train_bpd,
        "wall_s": result.wall_s,
        "stopped_by_time": result.stopped_by_time,
        "already_finished": result.already_finished,
        "warnings": list(result.warnings),
    }


def _status(result: TrainResult) -> str:
    if result.already_finished:
        return "already finished: nothing trained"
    if result.stopped_by_time:
        if result.state_path is None:
            return "stopped by max_train_minutes (state.pt discarded: cannot resume)"
        return "stopped by max_train_minutes (run again to resume)"
    return "finished"


def _table(terminal: Terminal, result: TrainResult) -> None:
    best = (
        "n/a"
        if result.best_test_bpd is None
        else f"{result.best_test_bpd:.4f} (epoch {result.best_epoch}, "
        f"{result.test_images} test images)"
    )
    last = "n/a" if result.last_train_bpd is None else f"{result.last_train_bpd:.4f}"
    rows = [
        ("status", _status(result)),
        (
            "epochs run",
            f"{result.epochs_run} (from {result.start_epoch} to "
            f"{result.epochs_done} of {result.epochs_total})",
        ),
        ("best test bits/dim", best),
        ("last train bits/dim", last),
        ("train images", str(result.train_images)),
        ("device", f"{result.device} x {result.world_size} process(es)"),
        ("wall time", f"{result.wall_s:.1f} s"),
        ("output dir", str(result.expdir)),
    ]
    terminal.table("Training", ["", "value"], rows)


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    from bitsback_core.registry import load_registry
    from bitsback_core.training.distributed import world_from_env
    from bitsback_core.training.trainer import check_training_config, train_model

    config = config_from_args(args, terminal.info)
    check_training_config(config)  # bad --bound etc. fail before anything loads
    rank, _, _ = world_from_env()
    if rank != 0:
        terminal.quiet = True  # one voice per job: rank 0 reports

    registry = load_registry()
    with terminal.progress("training", total=config.epochs) as bar:

        def progress(description: str, total: int) -> Any:
            return bar.advance

        def on_epoch(record: EpochRecord) -> None:
            bar.set_description(
                f"epoch {record.epoch}  train {record.train_bpd:.4f}  "
                f"test {record.test_bpd:.4f} bits/dim"
            )
            terminal.info(_epoch_line(record, config.epochs))

        def warn(message: str) -> None:
            if rank == 0:
                terminal.warn(message)

        result = train_model(
            config,
            registry,
            progress,
            resume=not args.no_resume,
            test_images=args.test_images,
            keep_state=not args.discard_state,
            on_epoch=on_epoch,
            warn=warn,
            validation_images=args.validation_images,
            init_from=args.init_from,
        )
    if rank != 0:
        return 0
    if config.json:
        terminal.json(_as_json(result))
    else:
        _table(terminal, result)
    return 0
