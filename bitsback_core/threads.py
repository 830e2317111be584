"""Bounded OpenMP spinning, set before torch or numba start their thread pools.

Why: the coder's network runs on torch's OpenMP pool and its kernels on numba's, and both
GNU OpenMP runtimes by default spin a waiting thread for a long time before sleeping. On
a quiet machine that spin costs nothing; on a shared one the two pools' spinning threads
take the cores from each other and from the work. Measured with BB-IS(50) on 2,000 EMNIST
images on 2 cores while two other processes kept both cores busy: 46-78 img/s with the
default spin, 143-192 img/s with ``GOMP_SPINCOUNT=1000`` (about the fair share of the
quiet speed, 240-304 img/s, which the bounded spin leaves unchanged within noise);
``OMP_WAIT_POLICY=PASSIVE`` does as well loaded but costs 20-60% quiet in earlier runs.
docs/performance.md has the figures and the command.

The runtime reads the variable once, when it starts, so this must run before torch (or a
numba parallel kernel) is first imported: ``import bitsback_core`` does it. A value the
user set (``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``) is never changed, and a process that
imported torch first keeps torch's default (setting the variable then changes nothing).
Bits never depend on threading: every coded value is computed in a thread-count-free way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

__all__ = [
    "MAX_CHAIN_GROUPS",
    "MIN_GROUP_ROWS",
    "SPIN_COUNT",
    "available_cpus",
    "bound_openmp_spin",
    "chain_groups",
]

#: Spin iterations before a waiting OpenMP thread sleeps (libgomp's default is 300,000
#: with OMP_WAIT_POLICY unset, and effectively unbounded with ACTIVE).
SPIN_COUNT = "1000"


def bound_openmp_spin(
    environ: MutableMapping[str, str] | None = None, loaded: frozenset[str] | None = None
) -> bool:
    """Set ``GOMP_SPINCOUNT`` unless the user chose a policy or torch already started.

    Returns whether it was set. ``environ`` and ``loaded`` (module names) default to this
    process's environment and ``sys.modules``; tests pass their own.
    """
    env = os.environ if environ is None else environ
    modules = frozenset(sys.modules) if loaded is None else loaded
    if "GOMP_SPINCOUNT" in env or "OMP_WAIT_POLICY" in env or "torch" in modules:
        return False
    env["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True


#: Most chain groups coded on threads at once (``compression.driver``). Measured on 2 cores
#: only: BB-IS(50) in two groups of 10 chains ran 1.34-1.39x one group of 20
#: (docs/performance.md, "Chain groups on threads"); more groups were not measured.
MAX_CHAIN_GROUPS = 2
#: Fewest particle rows (chains x particles) a group's step may hold: with less work per
#: step the Python between the compiled calls, which holds the GIL, takes the second core's
#: gain (measured: BB-IS(50) in groups of 2 chains gained 10-17%, of 1 chain nothing; BB-IS(5)
#: in groups of 10 chains nothing, BB-ELBO in groups of 10 chains lost up to a quarter).
MIN_GROUP_ROWS = 100


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def chain_groups(
    chains: int,
    device: str = "cpu",
    cpus: int | None = None,
    threads: int | None = None,
    particles: int = 1,
) -> int:
    """Chain groups for the driver to code on threads: ``threads`` (the ``chain_threads``
    key) if set, at most one per chain; else one per CPU, at most :data:`MAX_CHAIN_GROUPS`,
    each with at least :data:`MIN_GROUP_ROWS` of ``chains x particles`` rows, and one on a
    GPU (its batches gain from being large). Bytes never depend on it."""
    if threads is not None:
        return max(1, min(threads, chains))
    if device != "cpu":
        return 1
    cpus = available_cpus() if cpus is None else cpus
    return max(1, min(MAX_CHAIN_GROUPS, cpus, chains * particles // MIN_GROUP_ROWS))
