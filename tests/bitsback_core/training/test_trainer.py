"""``train_model`` end to end on a tiny dataset: files, learning, resume, refusals."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from bitsback_core.config import Config
from bitsback_core.errors import ConfigError
from bitsback_core.registry import Registry, load_registry
from bitsback_core.training import ExperimentClashError, TrainResult, train_model
from bitsback_vae.model import BinaryVAE


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def _config(data: Path, logdir: Path, **kw: object) -> Config:
    values: dict[str, object] = dict(
        datadir=str(data),
        logdir=str(logdir),
        exp_name="run",
        epochs=2,
        batch_size=16,
        bound="ELBO",
        num_particles=1,
        latent_dim=8,
    )
    values.update(kw)
    return Config(**values)  # type: ignore[arg-type]


def _log(result: TrainResult) -> list[dict[str, str]]:
    with open(result.log_path, newline="") as fh:
        return list(csv.DictReader(fh))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_short_cpu_run_writes_every_file(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    epochs_seen: list[int] = []
    progress_calls: list[tuple[str, int]] = []
    advanced: list[int] = []

    def progress(description: str, total: int):  # noqa: ANN202
        progress_calls.append((description, total))
        return advanced.append

    config = _config(tiny_emnist, tmp_path / "runs", bound="IWAE", num_particles=3)
    result = train_model(
        config, registry, progress, test_images=40, on_epoch=lambda r: epochs_seen.append(r.epoch)
    )
    assert (result.epochs_done, result.epochs_run, result.start_epoch) == (2, 2, 0)
    assert not result.stopped_by_time and not result.already_finished
    assert (result.train_images, result.test_images, result.world_size) == (128, 40, 1)
    assert epochs_seen == [1, 2] and progress_calls == [("train", 2)] and sum(advanced) == 2
    expdir = tmp_path / "runs" / "run"
    assert sorted(p.name for p in expdir.iterdir()) == [
        "log.csv",
        "model.pt",
        "state.pt",
        "train_config.yml",
    ]
    rows = _log(result)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(math.isfinite(float(r["train_bpd"])) and float(r["train_bpd"]) > 0 for r in rows)
    assert rows[0]["lr"] == "0.001" and float(rows[1]["lr"]) == pytest.approx(1e-3 * 10 ** (-1 / 7))
    best = min(rows, key=lambda r: float(r["test_bpd"]))
    assert result.best_epoch == int(best["epoch"])
    assert result.best_test_bpd == pytest.approx(float(best["test_bpd"]), abs=1e-6)

    # train_config.yml reloads, points at model.pt, and the weights load into the model
    saved = Config.from_yaml_file(expdir / "train_config.yml")
    assert saved.ckpt_path == str(expdir / "model.pt") and saved.expdir == str(expdir)
    assert (saved.bound, saved.num_particles, saved.latent_dim) == ("IWAE", 3, 8)
    model = BinaryVAE.from_config(saved.as_dict(), saved.ckpt_path)
    assert model.latent_dim == 8


def test_training_lowers_the_test_loss(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    config = _config(tiny_emnist, tmp_path, epochs=8, latent_dim=4)
    result = train_model(config, registry, test_images=48)
    test_bpd = [float(r["test_bpd"]) for r in _log(result)]
    # the quadrant structure is learnable: clearly below the first epoch's loss
    assert test_bpd[-1] < test_bpd[0] - 0.02
    assert result.best_test_bpd == pytest.approx(min(test_bpd), abs=1e-6)
    train_bpd = [float(r["train_bpd"]) for r in _log(result)]
    assert train_bpd[-1] < train_bpd[0]


def test_resume_continues_exactly_like_one_long_run(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    straight = train_model(_config(tiny_emnist, tmp_path / "a", epochs=4), registry, test_images=16)
    first = train_model(_config(tiny_emnist, tmp_path / "b", epochs=2), registry, test_images=16)
    assert first.epochs_done == 2 and (first.expdir / "state.pt").is_file()
    resumed = train_model(_config(tiny_emnist, tmp_path / "b", epochs=4), registry, test_images=16)
    assert (resumed.start_epoch, resumed.epochs_done, resumed.epochs_run) == (2, 4, 2)
    a, b = straight.model.torch_module().state_dict(), resumed.model.torch_module().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _log(straight) == [
        {**row, "seconds": s["seconds"]} for row, s in zip(_log(resumed), _log(straight))
    ]
    assert straight.best_test_bpd == resumed.best_test_bpd


def test_a_finished_run_is_not_retrained(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    config = _config(tiny_emnist, tmp_path)
    done = train_model(config, registry, test_images=16)
    before = {p.name: p.stat().st_mtime_ns for p in done.expdir.iterdir()}
    again = train_model(config, registry, test_images=16)
    assert again.already_finished and again.epochs_run == 0 and again.epochs_done == 2
    assert again.best_test_bpd == pytest.approx(done.best_test_bpd)
    assert {p.name: p.stat().st_mtime_ns for p in done.expdir.iterdir()} == before
    # the returned model is the best checkpoint
    best = _weights(done.checkpoint)
    assert all(torch.equal(best[k], v) for k, v in again.model.torch_module().state_dict().items())


def test_time_limit_stops_after_one_epoch_and_resumes(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    config = _config(tiny_emnist, tmp_path, epochs=3, max_train_minutes=0.0)
    stopped = train_model(config, registry, test_images=16)
    assert stopped.stopped_by_time and stopped.epochs_done == 1
    state = torch.load(stopped.expdir / "state.pt", weights_only=True)
    assert state["epoch"] == 1
    rest = train_model(attrs.evolve(config, max_train_minutes=None), registry, test_images=16)
    assert (rest.start_epoch, rest.epochs_done, rest.stopped_by_time) == (1, 3, False)
    assert [r["epoch"] for r in _log(rest)] == ["1", "2", "3"]


def test_refuses_a_directory_of_another_experiment(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    train_model(_config(tiny_emnist, tmp_path), registry, test_images=16)
    model_pt = tmp_path / "run" / "model.pt"
    before = model_pt.read_bytes()
    for change in ({"bound": "IWAE"}, {"num_particles": 5}, {"split": "letters"}):
        with pytest.raises(ExperimentClashError, match="holds a different experiment"):
            train_model(_config(tiny_emnist, tmp_path, **change), registry)
        with pytest.raises(ExperimentClashError):  # not even when asked to start over
            train_model(_config(tiny_emnist, tmp_path, **change), registry, resume=False)
    assert model_pt.read_bytes() == before

    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "model.pt").write_bytes(b"someone else's weights")
    with pytest.raises(ExperimentClashError, match="no train_config.yml"):
        train_model(_config(tiny_emnist, tmp_path, exp_name="stray"), registry)


def test_discarded_state_cannot_resume_but_can_restart(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    config = _config(tiny_emnist, tmp_path, epochs=3, max_train_minutes=0.0)
    first = train_model(config, registry, keep_state=False, test_images=16)
    assert first.stopped_by_time and first.state_path is None
    names = sorted(p.name for p in first.expdir.iterdir())
    assert names == ["log.csv", "model.pt", "train_config.yml"]
    with pytest.raises(ExperimentClashError, match="cannot be resumed"):
        train_model(config, registry, test_images=16)
    again = train_model(config, registry, resume=False, test_images=16, warn=lambda m: None)
    assert again.start_epoch == 0 and any("overwritten" in w for w in again.warnings)


def test_output_bias_starts_at_the_logit_of_the_training_mean(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    from bitsback_emnist.datasets import EMNIST

    # lr 0: Adam leaves the weights as initialized, so model.pt shows the initial bias
    result = train_model(_config(tiny_emnist, tmp_path, epochs=1, lr=0.0), registry, test_images=16)
    mean = EMNIST(tiny_emnist, "mnist", True).intensities(slice(None)).mean(axis=0) / 255
    p = np.clip(mean, 1e-3, 1 - 1e-3)
    bias = _weights(result.checkpoint)["dec_fc3.bias"].double().numpy()
    np.testing.assert_allclose(bias, np.log(p / (1 - p)), rtol=1e-5, atol=1e-5)


def test_initial_weights_come_from_the_seed(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    kw = dict(epochs=1, lr=0.0)
    a = train_model(_config(tiny_emnist, tmp_path / "a", **kw), registry, test_images=16)
    b = train_model(_config(tiny_emnist, tmp_path / "b", **kw), registry, test_images=16)
    c = train_model(_config(tiny_emnist, tmp_path / "c", seed=7, **kw), registry, test_images=16)
    wa, wb, wc = (_weights(r.checkpoint)["enc_fc1.weight"] for r in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_bad_settings_fail_before_any_work(tmp_path: Path, registry: Registry) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="bound must be one of ELBO, IWAE, got 'KL'"):
        train_model(_config(missing, tmp_path, bound="KL"), registry)
    with pytest.raises(ConfigError, match="optimizer"):
        train_model(_config(missing, tmp_path, optimizer="SGD"), registry)
    with pytest.raises(ConfigError, match="epochs must be at least 1"):
        train_model(_config(missing, tmp_path, epochs=0), registry)
    assert not (tmp_path / "run").exists()


def test_only_differentiable_models_train(
    tiny_emnist: Path, tmp_path: Path, opaque_model_class: type
) -> None:
    registry = load_registry()
    registry.register("model", opaque_model_class, plugin="test")
    with pytest.raises(ConfigError, match="not a DifferentiableModel"):
        train_model(_config(tiny_emnist, tmp_path, model="Opaque"), registry)


def test_an_unreadable_state_is_reported_not_overwritten(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    from bitsback_core.training import TrainingError

    config = _config(tiny_emnist, tmp_path, epochs=3, max_train_minutes=0.0)
    train_model(config, registry, test_images=16)
    state = tmp_path / "run" / "state.pt"
    state.write_bytes(b"not a torch file")
    with pytest.raises(TrainingError, match="cannot read .*state.pt"):
        train_model(config, registry, test_images=16)
    assert state.read_bytes() == b"not a torch file"


def test_validation_images_replace_the_test_split(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    # With the test files gone, a run that opened the test split would fail.
    for path in tiny_emnist.glob("emnist-mnist-test-*"):
        path.unlink()
    config = _config(tiny_emnist, tmp_path / "runs", epochs=1)
    result = train_model(config, registry, test_images=40, validation_images=32)
    assert (result.train_images, result.test_images) == (96, 32)
    assert "held out" in result.test_source and "less the last 32" in result.train_source
    with pytest.raises(ValueError, match="must leave training images"):
        train_model(
            attrs.evolve(config, exp_name="all"), registry, test_images=40, validation_images=128
        )


def test_init_from_starts_from_given_weights(
    tiny_emnist: Path, tmp_path: Path, registry: Registry
) -> None:
    first = train_model(_config(tiny_emnist, tmp_path / "runs", epochs=1), registry, test_images=40)
    # lr 0: Adam moves nothing, so the saved weights are exactly the ones started from.
    config = _config(tiny_emnist, tmp_path / "runs", exp_name="tuned", epochs=1, lr=0.0)
    second = train_model(config, registry, test_images=40, init_from=first.checkpoint)
    before, after = _weights(first.checkpoint), _weights(second.checkpoint)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    fresh = train_model(attrs.evolve(config, exp_name="fresh"), registry, test_images=40)
    assert not all(torch.equal(before[k], v) for k, v in _weights(fresh.checkpoint).items())
