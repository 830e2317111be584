"""Data-parallel training under ``torchrun``: who am I, and talking to the other ranks.

``torchrun`` (``python -m torch.distributed.run``) starts one process per rank and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. With
``WORLD_SIZE > 1`` the trainer joins the process group (gloo on the CPU, NCCL on CUDA),
wraps the network in ``DistributedDataParallel`` and gives each rank its slice of every
epoch. Without those variables everything here is a no-op on a world of one, so the
single-process path has no distributed code in it at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["DistContext", "world_from_env"]


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def world_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` as torchrun sets them (``(0, 0, 1)`` otherwise)."""
    env = os.environ if environ is None else environ
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not valid for WORLD_SIZE={world}")
    return rank, local, world


@attrs.define
class DistContext:
    """This process's place in the job, and the few collectives training needs."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and evaluates the test loss."""
        return self.rank == 0

    @classmethod
    def setup(cls, device_type: str) -> DistContext:
        """Join the process group when launched with ``WORLD_SIZE > 1``.

        A group the caller already initialized is used as is (and left for the caller to
        destroy); otherwise one is created from the torchrun environment.
        """
        rank, local, world = world_from_env()
        if world == 1:
            return cls()
        import torch.distributed as dist

        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        owns = False
        if not dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, init_method="env://")
            owns = True
        if dist.get_world_size() != world or dist.get_rank() != rank:
            raise RuntimeError(
                f"process group (rank {dist.get_rank()} of {dist.get_world_size()}) does not "
                f"match RANK={rank} WORLD_SIZE={world}"
            )
        return cls(rank=rank, local_rank=local, world_size=world, owns_group=owns)

    def wrap(self, module: Any, device: Any) -> Any:
        """``module`` in ``DistributedDataParallel`` (unchanged on a world of one)."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":
            return DistributedDataParallel(
                module, device_ids=[device.index], output_device=device.index
            )
        return DistributedDataParallel(module)

    def sum(self, values: list[float], device: Any) -> list[float]:
        """Element-wise sum of ``values`` over all ranks."""
        if not self.enabled:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.cpu()]

    def broadcast_flag(self, flag: bool, device: Any) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. "stop now"), so all ranks stop together."""
        if not self.enabled:
            return flag
        import torch
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def teardown(self) -> None:
        """Leave the process group if :meth:`setup` created it."""
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.owns_group = False
