"""Data-parallel training: two gloo processes on 127.0.0.1 end with identical weights."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bitsback_core.training.distributed import DistContext, world_from_env

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("ddp_train_worker.py")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_world_from_env() -> None:
    assert world_from_env({}) == (0, 0, 1)
    assert world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == (3, 1, 4)
    assert world_from_env({"WORLD_SIZE": "2", "RANK": "1"}) == (1, 1, 2)
    with pytest.raises(ValueError, match="RANK=2 is not valid for WORLD_SIZE=2"):
        world_from_env({"WORLD_SIZE": "2", "RANK": "2"})
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        world_from_env({"WORLD_SIZE": "two"})


def test_single_process_context_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = DistContext.setup("cpu")
    module = torch.nn.Linear(2, 2)
    assert not ctx.enabled and ctx.is_main
    assert ctx.wrap(module, torch.device("cpu")) is module
    assert ctx.sum([1.5, 2.0], "cpu") == [1.5, 2.0]
    assert ctx.broadcast_flag(True, "cpu") is True


def test_two_ranks_train_to_identical_weights(tiny_emnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    logdir = tmp_path / "runs"
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT), str(REPO_ROOT / "plugins"), env.get("PYTHONPATH", "")]
        ),
    )
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(WORKER),
        str(tiny_emnist),
        str(logdir),
        str(out),
        "2",
    ]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # they trained: the weights moved away from the seeded initialization
    from bitsback_vae.model import BinaryVAE

    torch.manual_seed(42)
    init = BinaryVAE.from_config({"latent_dim": 50}).network.state_dict()
    assert not torch.equal(init["enc_fc1.weight"], rank0["enc_fc1.weight"])

    # both ranks knew the world; only rank 0 evaluated and wrote files
    world0, done0, best0 = (out / "rank0.txt").read_text().split()
    world1, done1, best1 = (out / "rank1.txt").read_text().split()
    assert (world0, done0, world1, done1) == ("2", "2", "2", "2")
    assert best0 != "None" and best1 == "None"
    expdir = logdir / "ddp"
    assert sorted(p.name for p in expdir.iterdir()) == [
        "log.csv",
        "model.pt",
        "state.pt",
        "train_config.yml",
    ]
    with open(expdir / "log.csv", newline="") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2"]
