"""Bounded OpenMP spinning (set when nothing chose otherwise, never over the user's choice)
and how many chain groups the driver codes on threads."""

from __future__ import annotations

import subprocess
import sys

from bitsback_core.threads import (
    MAX_CHAIN_GROUPS,
    MIN_GROUP_ROWS,
    SPIN_COUNT,
    bound_openmp_spin,
    chain_groups,
)


def test_sets_the_spin_count_when_nothing_chose() -> None:
    env: dict[str, str] = {}
    assert bound_openmp_spin(env, frozenset())
    assert env == {"GOMP_SPINCOUNT": SPIN_COUNT}


def test_keeps_the_users_choice_and_a_started_torch() -> None:
    for env in ({"GOMP_SPINCOUNT": "7"}, {"OMP_WAIT_POLICY": "ACTIVE"}):
        before = dict(env)
        assert not bound_openmp_spin(env, frozenset())
        assert env == before
    env = {}
    assert not bound_openmp_spin(env, frozenset({"torch"})) and env == {}


def test_importing_the_package_sets_it_before_torch_starts() -> None:
    code = (
        "import os, bitsback_core, torch; "
        "print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in __import__('sys').modules)"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [SPIN_COUNT, "True"]


def test_chain_groups_one_per_cpu_with_enough_work_each() -> None:
    assert chain_groups(20, "cpu", cpus=2, particles=50) == 2
    assert chain_groups(4, "cpu", cpus=2, particles=50) == 2  # 100 rows a group
    assert chain_groups(2, "cpu", cpus=2, particles=50) == 1  # a group would hold too little
    assert chain_groups(20, "cpu", cpus=2, particles=5) == 1
    assert chain_groups(20, "cpu", cpus=2) == 1  # BB-ELBO: one particle
    assert chain_groups(1000, "cpu", cpus=64, particles=50) == MAX_CHAIN_GROUPS
    assert chain_groups(20, "cpu", cpus=1, particles=50) == 1
    assert chain_groups(20, "cuda:0", cpus=16, particles=50) == 1  # a GPU's batches gain from size
    assert chain_groups(3 * MIN_GROUP_ROWS, "cpu", cpus=2) == 2
    # The chain_threads key wins, at most one group per chain, on any device.
    assert chain_groups(20, "cpu", cpus=2, threads=1, particles=50) == 1
    assert chain_groups(20, "cuda:0", cpus=2, threads=3) == 3
    assert chain_groups(2, "cpu", cpus=2, threads=8) == 2
