"""``train_model``: train any registered :class:`DifferentiableModel` as the paper does.

The recipe is the seed's: Adam (``lr``, ``eps``), the IWAE multi-step schedule
(:mod:`~bitsback_core.training.schedule`), ``batch_size`` images per step, the ELBO or
the IWAE bound with ``num_particles``, the decoder's output bias set from the training
mean, and dynamic binarization drawn anew every epoch from ``(seed, epoch)``. After every
epoch the negative bound is measured on a fixed, seeded subset of the test split; the
weights of the best epoch are ``model.pt``.

Reproducibility is by construction rather than by saved RNG state: the initial weights
come from ``seed``, and each epoch's bits, order and reparameterization noise from
``(seed, epoch[, rank])``. So a resumed run continues exactly as an uninterrupted one
would, and the CPU and CUDA paths consume identical noise (drawn on the CPU).

torch is imported inside the functions, so ``import bitsback_core`` stays torch-free.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bitsback_core.config import Config
from bitsback_core.errors import BitsbackError, ConfigError
from bitsback_core.models.interface import DifferentiableModel
from bitsback_core.pipeline.device import resolve_device
from bitsback_core.pipeline.progress import ProgressFactory, no_progress
from bitsback_core.registry import Registry
from bitsback_core.training.data import (
    DEFAULT_TEST_IMAGES,
    derive_seed,
    epoch_batches,
    epoch_images,
    epoch_order,
    load_training_data,
)
from bitsback_core.training.distributed import DistContext
from bitsback_core.training.experiment import (
    EpochRecord,
    ExperimentClashError,
    ExperimentDir,
    check_same_experiment,
    replace_atomically,
)
from bitsback_core.training.schedule import (
    IWAE_GAMMA,
    IWAE_MILESTONES,
    check_optimizer,
    check_scheduler,
    lr_at_epoch,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "BOUNDS",
    "STATE_FORMAT",
    "TrainResult",
    "TrainingError",
    "check_training_config",
    "train_model",
]

#: Training objectives :meth:`DifferentiableModel.torch_loss` understands.
BOUNDS = ("ELBO", "IWAE")
#: Version of the ``state.pt`` layout.
STATE_FORMAT = 1
#: Images per forward pass when measuring the test loss (no gradients: memory is small).
_TEST_BATCH = 500
# Stream tags of derive_seed for the noise (training and test).
_NOISE, _TEST_NOISE = 3, 4

_LN2 = math.log(2.0)


class TrainingError(BitsbackError, RuntimeError):
    """Training cannot go on: the loss diverged, or the saved state cannot be used."""


@attrs.frozen(eq=False)
class TrainResult:
    """What a call of :func:`train_model` did.

    ``model`` is the trained model in memory: the last epoch's weights after training,
    or the best (``model.pt``) weights when the run had already finished. On ranks other
    than 0 of a distributed run the test figures are None (only rank 0 evaluates).
    """

    expdir: Path
    checkpoint: Path
    config_path: Path
    log_path: Path
    state_path: Path | None
    device: str
    world_size: int
    start_epoch: int
    epochs_done: int
    epochs_total: int
    train_images: int
    test_images: int
    train_source: str
    test_source: str
    best_test_bpd: float | None
    best_epoch: int | None
    last_train_bpd: float | None
    wall_s: float
    stopped_by_time: bool
    already_finished: bool
    warnings: tuple[str, ...] = ()
    model: Any = attrs.field(default=None, repr=False)

    @property
    def epochs_run(self) -> int:
        """Epochs trained by this call."""
        return self.epochs_done - self.start_epoch

    @property
    def finished(self) -> bool:
        return self.epochs_done >= self.epochs_total


def check_training_config(config: Config) -> None:
    """Reject settings the trainer cannot honour, before any data or model is loaded."""
    if config.bound not in BOUNDS:
        raise ConfigError(f"bound must be one of {', '.join(BOUNDS)}, got {config.bound!r}")
    check_optimizer(config.optimizer)
    check_scheduler(config.scheduler)
    if config.epochs < 1:
        raise ConfigError(f"epochs must be at least 1 to train, got {config.epochs}")


class _Warnings(list[str]):
    """Collected warnings, each also passed to the caller's callback when it arises."""

    def __init__(self, callback: Callable[[str], None] | None) -> None:
        super().__init__()
        self._callback = callback

    def append(self, message: str) -> None:
        super().append(message)
        if self._callback is not None:
            self._callback(message)


def _bpd(nats: float, obs_dim: int) -> float:
    return nats / (obs_dim * _LN2)


@attrs.frozen
class _Plan:
    """How this call starts: fresh, from ``state``, or not at all (already finished)."""

    kind: str  # "fresh" | "resume" | "finished"
    state: dict[str, Any] | None = None
    finished_epochs: int = 0
    note: str | None = None


def _load_state(path: Path) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad files
        raise TrainingError(f"cannot read {path}: {exc}; delete it to train from scratch") from exc
    needed = (
        "format",
        "epoch",
        "model",
        "optimizer",
        "best_test_nats",
        "best_epoch",
        "test_images",
        "test_images_cap",
    )
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise TrainingError(
            f"{path} is not a bitsback training state; delete it or pick another exp_name"
        )
    if state["format"] != STATE_FORMAT:
        raise TrainingError(f"{path} has state format {state['format']}, expected {STATE_FORMAT}")
    return state


def _plan(exp: ExperimentDir, config: Config, resume: bool) -> _Plan:
    """Decide from what is in the directory; raise instead of overwriting another run."""
    existing = exp.existing_config()
    if existing is None:
        if exp.has_results():
            raise ExperimentClashError(
                f"{exp.path} holds training output but no train_config.yml, so it is not "
                "known what trained it; choose another --exp_name or --logdir"
            )
        return _Plan("fresh")
    check_same_experiment(existing, config, exp.path)
    if not resume:
        note = None
        if exp.has_results():
            note = f"not resuming: {exp.path} is overwritten by a new run"
        return _Plan("fresh", note=note)
    if exp.state_file.is_file():
        state = _load_state(exp.state_file)
        if state["epoch"] >= config.epochs:
            return _Plan("finished", state=state, finished_epochs=int(state["epoch"]))
        return _Plan("resume", state=state)
    last = exp.last_logged_epoch()
    if exp.checkpoint.is_file() and last >= config.epochs:
        return _Plan("finished", finished_epochs=last)
    if exp.checkpoint.is_file() or last > 0:
        raise ExperimentClashError(
            f"{exp.path} holds a run stopped after epoch {last} of {config.epochs} whose "
            "state.pt was discarded, so it cannot be resumed; train again from scratch "
            "with --no_resume, or choose another --exp_name"
        )
    return _Plan("fresh")


def _build_model(config: Config, registry: Registry, device: torch.device) -> DifferentiableModel:
    import torch

    model_cls = registry.get("model", config.model)
    if not issubclass(model_cls, DifferentiableModel):
        raise ConfigError(
            f"model {config.model!r} cannot be trained: it is not a DifferentiableModel"
        )
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)  # reproducible initial weights, same on every rank
        model = model_cls.from_config(config.as_dict(), None, str(device))
    return model


def _loss_module(model: DifferentiableModel, bound: str, num_particles: int) -> torch.nn.Module:
    """A module whose ``forward`` is the training loss.

    ``DistributedDataParallel`` synchronizes gradients only for computations that go
    through its ``forward``; this wrapper routes :meth:`torch_loss` through it while
    sharing the model's parameters.
    """
    import torch

    class _Loss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model.torch_module()

        def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            return model.torch_loss(x, bound, num_particles, generator)

    return _Loss()


def _test_nats(
    model: DifferentiableModel, x: torch.Tensor, bound: str, num_particles: int, seed: int
) -> float:
    """Mean negative bound on the test subset with the same noise at every epoch."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(derive_seed(seed, _TEST_NOISE))
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], _TEST_BATCH):
            xb = x[start : start + _TEST_BATCH]
            total += float(model.torch_loss(xb, bound, num_particles, gen)) * xb.shape[0]
    return total / x.shape[0]


def _save_model(model: DifferentiableModel, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    model.save(tmp)
    replace_atomically(tmp, path)


def _save_state(path: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    replace_atomically(tmp, path)


def _best_from_log(exp: ExperimentDir) -> tuple[float | None, int | None, int]:
    rows = exp.read_log()
    if not rows:
        return None, None, 0
    best = min(rows, key=lambda r: float(r["test_bpd"]))
    return float(best["test_bpd"]), int(best["epoch"]), int(best.get("test_images") or 0)


def train_model(
    config: Config,
    registry: Registry,
    progress: ProgressFactory = no_progress,
    resume: bool = True,
    *,
    test_images: int = DEFAULT_TEST_IMAGES,
    keep_state: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    warn: Callable[[str], None] | None = None,
    validation_images: int = 0,
    init_from: Path | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``/``split`` into ``logdir/exp_name``.

    ``resume`` continues from ``state.pt`` when the directory holds this experiment (a
    finished run is returned without training); without it the same experiment restarts
    from scratch. A directory of another experiment is refused with
    :class:`~bitsback_core.training.experiment.ExperimentClashError`. ``test_images``
    caps the per-epoch test subset (a resumed run keeps the count it started with).
    ``keep_state=False`` deletes ``state.pt`` when the call returns (the run can then not
    be resumed). ``progress`` gets one phase, ``"train"``, of ``config.epochs`` steps, and
    ``on_epoch`` each epoch's log row; ``warn`` is told each warning as it arises (they
    are also in :attr:`TrainResult.warnings`). ``validation_images > 0`` holds out that many
    training images for model selection instead of the test split; ``init_from`` names a
    ``model.pt`` whose weights a fresh run starts from (fine-tuning, e.g. IWAE-50 from an
    IWAE-5 model). Under ``torchrun`` (``WORLD_SIZE > 1``) the epochs
    are split across ranks with ``DistributedDataParallel``; rank 0 alone writes files.
    """
    check_training_config(config)
    import torch

    started = time.perf_counter()
    warnings = _Warnings(warn)
    device_name, warning = resolve_device(config.gpu)
    if warning:
        warnings.append(warning)
    device = torch.device(device_name)
    dist = DistContext.setup(device.type)
    try:
        if dist.enabled and device.type == "cuda":
            device = torch.device("cuda", dist.local_rank)
            torch.cuda.set_device(device)
        options = _Options(
            progress, resume, test_images, keep_state, on_epoch, warnings, started,
            validation_images, init_from,
        )  # fmt: skip
        return _train(config, registry, options, device, dist)
    finally:
        dist.teardown()


@attrs.frozen
class _Options:
    """How :func:`train_model` was asked to run (everything but the config and the data)."""

    progress: ProgressFactory
    resume: bool
    test_images: int
    keep_state: bool
    on_epoch: Callable[[EpochRecord], None] | None
    warnings: _Warnings
    started: float
    validation_images: int = 0
    init_from: Path | None = None


@attrs.define
class _Progress:
    """Where the loop stands: epochs done and the best test loss so far."""

    start: int = 0
    done: int = 0
    best_nats: float = math.inf
    best_epoch: int | None = None
    last_train_bpd: float | None = None
    stopped: bool = False


def _test_subset_cap(plan: _Plan, options: _Options) -> int:
    """The test-subset size: a resumed run keeps the one it started with (comparable losses)."""
    started_with = None if plan.state is None else int(plan.state["test_images_cap"])
    if started_with is not None and started_with != options.test_images:
        options.warnings.append(
            f"resuming with the test subset the run started with (at most {started_with} "
            f"images, not {options.test_images}), so test losses stay comparable"
        )
        return started_with
    return options.test_images


class _Run:
    """One call's training run: the pieces every step needs, and one method per step."""

    def __init__(
        self, config: Config, registry: Registry, options: _Options,
        device: torch.device, dist: DistContext,
    ) -> None:  # fmt: skip
        self.exp, self.config = ExperimentDir.for_config(config)
        self.plan = _plan(self.exp, self.config, options.resume)
        if self.plan.note:
            options.warnings.append(self.plan.note)
        self.test_cap = _test_subset_cap(self.plan, options)
        self.options, self.device, self.dist = options, device, dist
        self.data = load_training_data(
            self.config, registry, self.test_cap, options.validation_images
        )
        self.model = _build_model(self.config, registry, device)
        self.module = self.model.torch_module()
        self.advance = options.progress("train", self.config.epochs)

    def result(self, **kw: Any) -> TrainResult:
        """A :class:`TrainResult` with the fields every outcome shares filled in."""
        exp, data, opts = self.exp, self.data, self.options
        base: dict[str, Any] = dict(
            expdir=exp.path, checkpoint=exp.checkpoint, config_path=exp.config_file,
            log_path=exp.log_file, state_path=exp.state_file if opts.keep_state else None,
            device=str(self.device), world_size=self.dist.world_size,
            epochs_total=self.config.epochs, train_images=data.num_train,
            test_images=int(data.test_images.shape[0]), train_source=data.train_source,
            test_source=data.test_source, wall_s=time.perf_counter() - opts.started,
            warnings=tuple(opts.warnings), model=self.model,
        )  # fmt: skip
        base.update(kw)
        return TrainResult(**base)

    def already_finished(self) -> TrainResult:
        """The run had finished before: report it from its state or log, train nothing."""
        plan, exp = self.plan, self.exp
        if plan.state is not None:
            best_bpd: float | None = _bpd(float(plan.state["best_test_nats"]), self.model.obs_dim)
            best_epoch: int | None = int(plan.state["best_epoch"])
        else:
            best_bpd, best_epoch, _ = _best_from_log(exp)
        self.model = type(self.model).from_config(
            self.config.as_dict(), exp.checkpoint, str(self.device)
        )
        if self.dist.is_main and not self.options.keep_state and exp.state_file.exists():
            exp.state_file.unlink()
        self.advance(plan.finished_epochs)
        return self.result(
            start_epoch=plan.finished_epochs, epochs_done=plan.finished_epochs,
            best_test_bpd=best_bpd, best_epoch=best_epoch, last_train_bpd=None,
            stopped_by_time=False, already_finished=True,
        )  # fmt: skip

    def initial_weights(self, optimizer: torch.optim.Optimizer) -> _Progress:
        """Resume from the saved state, start from ``init_from``, or initialize from the data."""
        import torch

        state = _Progress()
        if self.plan.kind == "resume":
            assert self.plan.state is not None
            saved = self.plan.state
            self.module.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state.start = state.done = int(saved["epoch"])
            state.best_nats, state.best_epoch = float(saved["best_test_nats"]), saved["best_epoch"]
        elif self.options.init_from is not None:
            weights = torch.load(
                self.options.init_from, map_location=self.device, weights_only=True
            )
            self.module.load_state_dict(weights)
        else:
            self.model.initialize_from_data(self.data.mean_image)
        return state

    def prepare_directory(self, start: int) -> None:
        """Rank 0 creates or truncates the experiment's files (stale results of a fresh run go)."""
        exp = self.exp
        if not self.dist.is_main:
            return
        exp.path.mkdir(parents=True, exist_ok=True)
        if self.plan.kind == "fresh":
            for stale in (exp.checkpoint, exp.state_file):
                stale.unlink(missing_ok=True)
            exp.start_log()
        else:
            exp.truncate_log(start)
        self.config.to_yaml_file(exp.config_file)

    def train_epoch(self, epoch: int, step: Any, optimizer: torch.optim.Optimizer) -> float:
        """One epoch of optimizer steps; returns the mean training loss in nats (all ranks)."""
        import torch

        config, data, dist = self.config, self.data, self.dist
        bits = epoch_images(data.train_intensities, config.seed, epoch, data.binarize)
        order = epoch_order(data.num_train, config.seed, epoch)
        batches = epoch_batches(order, config.batch_size, dist.rank, dist.world_size)
        noise = torch.Generator(device="cpu").manual_seed(
            derive_seed(config.seed, epoch, _NOISE, dist.rank)
        )
        self.module.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        seen = 0
        for idx in batches:
            x = torch.from_numpy(bits[idx]).to(device=self.device, dtype=torch.float32)
            loss = step(x, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(idx)
            seen += len(idx)
        total_nats, total_seen = dist.sum([float(loss_sum), float(seen)], self.device)
        train_nats = total_nats / total_seen
        if not math.isfinite(train_nats):
            raise TrainingError(
                f"training diverged in epoch {epoch + 1} (loss {train_nats}); "
                f"the last good state is in {self.exp.state_file}"
            )
        return train_nats

    def evaluate(self, epoch: int, x_test: torch.Tensor, state: _Progress) -> tuple[float, bool]:
        """Rank 0: the test loss in bits/dim; a new best is saved as ``model.pt``."""
        if not self.dist.is_main:
            return math.nan, False
        config = self.config
        self.module.eval()
        test_nats = _test_nats(self.model, x_test, config.bound, config.num_particles, config.seed)
        is_best = test_nats < state.best_nats
        if is_best:
            state.best_nats, state.best_epoch = test_nats, epoch + 1
            _save_model(self.model, self.exp.checkpoint)
        return _bpd(test_nats, self.model.obs_dim), is_best

    def save_state(
        self, epoch: int, optimizer: torch.optim.Optimizer, state: _Progress, test_count: int
    ) -> None:
        """Rank 0: everything a resumed run needs after ``epoch`` (atomically replaced)."""
        import torch

        config = self.config
        _save_state(self.exp.state_file, {
            "format": STATE_FORMAT,
            "epoch": epoch + 1,
            "model": {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": {
                "name": config.scheduler, "milestones": list(IWAE_MILESTONES),
                "gamma": IWAE_GAMMA, "next_epoch": epoch + 1,
            },
            "best_test_nats": state.best_nats,
            "best_epoch": state.best_epoch,
            "test_images": test_count,
            "test_images_cap": self.test_cap,
            "torch_version": str(torch.__version__),
        })  # fmt: skip

    def out_of_time(self) -> bool:
        """Whether ``max_train_minutes`` has passed (decided by rank 0 for every rank)."""
        limit = self.config.max_train_minutes
        over = limit is not None and time.perf_counter() - self.options.started >= 60.0 * limit
        return self.dist.broadcast_flag(over, self.device)

    def epochs(self, optimizer: torch.optim.Optimizer, state: _Progress) -> None:
        """The training loop: train, evaluate, log, save, stop on time."""
        import torch

        config, dist = self.config, self.dist
        step = dist.wrap(_loss_module(self.model, config.bound, config.num_particles), self.device)
        x_test = torch.as_tensor(self.data.test_images, dtype=torch.float32, device=self.device)
        if state.start:
            self.advance(state.start)
        for epoch in range(state.start, config.epochs):
            t_epoch = time.perf_counter()
            lr = lr_at_epoch(epoch, config.lr, config.scheduler, IWAE_MILESTONES, IWAE_GAMMA)
            for group in optimizer.param_groups:
                group["lr"] = lr
            state.last_train_bpd = _bpd(
                self.train_epoch(epoch, step, optimizer), self.model.obs_dim
            )
            test_bpd, is_best = self.evaluate(epoch, x_test, state)
            record = EpochRecord(
                epoch=epoch + 1, lr=lr, train_bpd=state.last_train_bpd, test_bpd=test_bpd,
                test_images=int(x_test.shape[0]), seconds=time.perf_counter() - t_epoch,
                is_best=is_best,
            )  # fmt: skip
            if dist.is_main:
                self.exp.append_log(record)
                self.save_state(epoch, optimizer, state, int(x_test.shape[0]))
            state.done = epoch + 1
            self.advance(1)
            if self.options.on_epoch is not None:
                self.options.on_epoch(record)
            if self.out_of_time() and state.done < config.epochs:
                state.stopped = True
                break


def _train(
    config: Config,
    registry: Registry,
    options: _Options,
    device: torch.device,
    dist: DistContext,
) -> TrainResult:
    """Plan, set up, loop, report: each step is a method of :class:`_Run`."""
    import torch

    run = _Run(config, registry, options, device, dist)
    if run.plan.kind == "finished":
        return run.already_finished()
    optimizer = torch.optim.Adam(run.module.parameters(), lr=run.config.lr, eps=run.config.eps)
    state = run.initial_weights(optimizer)
    dist.barrier()  # every rank has read the directory before rank 0 writes to it
    run.prepare_directory(state.start)
    run.epochs(optimizer, state)
    dist.barrier()
    if dist.is_main and not options.keep_state:
        run.exp.state_file.unlink(missing_ok=True)
    best_bpd = (
        _bpd(state.best_nats, run.model.obs_dim) if dist.is_main and state.best_epoch else None
    )
    return run.result(
        start_epoch=state.start, epochs_done=state.done, best_test_bpd=best_bpd,
        best_epoch=state.best_epoch if dist.is_main else None,
        last_train_bpd=state.last_train_bpd, stopped_by_time=state.stopped,
        already_finished=False,
    )  # fmt: skip
