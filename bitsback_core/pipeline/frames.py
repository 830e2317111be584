"""Decoding the frames of a ``.bbz`` file in several processes, and choosing which frames.

Frames are independent messages (``docs/format.md``), so decoding a file is a map over
its frames. A single process cannot use more than one core for most of that map: Python
between the compiled row loops holds the GIL, a frame of one chain runs on one thread, and
chain groups on threads (``compression.driver``) pay only for coders with much work per
step; they are used where one process decodes alone. So :func:`map_in_order` runs the map
in ``jobs`` processes: the calling process (which has already built its decoder, so a
wrong model or a missing plugin is reported before any process starts) plus ``jobs - 1``
workers of a ``ProcessPoolExecutor``, each of which builds its own decoder once and then
decodes the frames it is sent (the file decoder, ``files._FrameDecoder``, loads its model only on its
first bits-back frame: a worker sent only classical frames never imports a model). Results
come back in frame order, and at most a small window of frames is in flight, so memory
stays bounded however many frames a file holds.

Workers are started with "spawn" (never "fork": a forked copy of a process holding torch
and numba's thread pools can deadlock) and ignore SIGINT, so Ctrl-C reaches only the
calling process, which stops the workers and reports one line.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from bitsback_core.errors import BitsbackError, ConfigError
from bitsback_core.threads import available_cpus

__all__ = [
    "IMAGES_PER_JOB",
    "FrameRangeError",
    "WorkerError",
    "available_cpus",
    "default_jobs",
    "map_in_order",
    "parse_frame_range",
    "select_frames",
]

T = TypeVar("T")
R = TypeVar("R")


class FrameRangeError(BitsbackError, ValueError):
    """A frame range that is malformed, empty, or outside the file's frames."""


class WorkerError(BitsbackError, RuntimeError):
    """A worker process died (killed, out of memory) before returning its frame."""


#: Selected images per process the default ``jobs`` asks for. Starting a worker costs
#: about 6 CPU-seconds here (importing torch, loading the model and numba's cached
#: kernels): the time BB-ELBO takes to decode some 30,000 images. A file of many small
#: frames would otherwise start processes that cost more than they save.
IMAGES_PER_JOB = 10_000


def default_jobs(jobs: int | None, tasks: int, images: int | None = None) -> int:
    """``jobs`` checked, or the default: one process per CPU, at most one per task (frame)
    and, given ``images``, at most one per :data:`IMAGES_PER_JOB` images. Never more
    processes than tasks."""
    if jobs is None:
        limit = tasks if images is None else max(1, images // IMAGES_PER_JOB)
        return max(1, min(available_cpus(), tasks, limit))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a positive integer, got {jobs!r}")
    return max(1, min(jobs, tasks))


def parse_frame_range(text: str) -> slice:
    """``"A:B"`` (either end optional, Python slice semantics) or ``"K"`` (frame K alone)."""
    raw = text.strip()
    try:
        if ":" not in raw:
            index = int(raw)
            return slice(index, index + 1 if index != -1 else None)
        start, stop = raw.split(":")
        return slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None)
    except ValueError:
        raise FrameRangeError(
            f"frame range {text!r} is not A:B or K (frame indices, ends optional)"
        ) from None


def _describe(frames: slice) -> str:
    ends = (
        "" if frames.start is None else str(frames.start),
        "" if frames.stop is None else str(frames.stop),
    )
    step = "" if frames.step in (None, 1) else f":{frames.step}"
    return f"{ends[0]}:{ends[1]}{step}"


def select_frames(num_frames: int, frames: slice | None, name: str) -> range:
    """The frame indices ``frames`` selects of ``num_frames``; refuse a bound outside them.

    Python's slices clip silently (``x[5:9]`` of three items is empty); a decoder asked for
    frames a file does not have should say so instead, so an explicit bound outside
    ``[-num_frames, num_frames]`` and an empty selection are :class:`FrameRangeError`.
    """
    if frames is None:
        return range(num_frames)
    if frames.step is not None and frames.step < 1:
        raise FrameRangeError(f"frame range {_describe(frames)} must step forward")
    last = num_frames - 1
    for bound in (frames.start, frames.stop):
        if bound is not None and not -num_frames <= bound <= num_frames:
            raise FrameRangeError(
                f"frame range {_describe(frames)} is outside {name}'s {num_frames} "
                f"frame{'s' if num_frames != 1 else ''} (0 to {last})"
            )
    selected = range(num_frames)[frames]
    if not selected:
        raise FrameRangeError(
            f"frame range {_describe(frames)} selects none of {name}'s {num_frames} frames"
        )
    return selected


# --- worker side ---------------------------------------------------------------------------

#: The worker's function, built once by the pool's initializer, or the error building it.
_WORKER: Callable[[Any], Any] | BaseException | None = None


def _init_worker(build: Callable[..., Callable[[Any], Any]], args: tuple[Any, ...]) -> None:
    """Build this worker's function once; keep a failure to report with the first task."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        _WORKER = build(*args)
    except BaseException as exc:  # noqa: BLE001 - reported through the first task, as the parent would raise it
        _WORKER = exc


def _run_task(task: Any) -> Any:
    if isinstance(_WORKER, BaseException):
        raise _WORKER
    assert _WORKER is not None, "worker used before its initializer ran"
    return _WORKER(task)


# --- caller side ---------------------------------------------------------------------------


def _stop(pool: ProcessPoolExecutor) -> None:
    """Shut the pool down now: cancel queued tasks and end workers busy with a frame."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def map_in_order(
    local: Callable[[T], R],
    build: Callable[..., Callable[[T], R]],
    args: tuple[Any, ...],
    tasks: Sequence[T],
    jobs: int,
    start_method: str = "spawn",
) -> Iterator[R]:
    """``local(task)`` for every task, in order, computed by ``jobs`` processes.

    ``local`` runs in this process; each of the ``jobs - 1`` workers runs ``build(*args)``
    once (``build`` must be a module-level function, ``args`` and tasks picklable) and
    applies the result to the tasks it is given. Tasks are dealt round-robin, this process
    taking every ``jobs``-th, and at most ``2 * jobs`` are in flight. ``jobs == 1`` (or a
    single task) never starts a process. An exception from any task is raised here, in
    task order, after the workers are stopped.
    """
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield local(task)
        return
    context = multiprocessing.get_context(start_method)
    pool = ProcessPoolExecutor(
        jobs - 1, mp_context=context, initializer=_init_worker, initargs=(build, args)
    )
    window = 2 * jobs
    pending: deque[Future[R] | None] = deque()  # None: this process's own task
    submitted = 0
    try:
        for index in range(len(tasks)):
            while submitted < len(tasks) and submitted < index + window:
                ours = submitted % jobs == 0
                pending.append(None if ours else pool.submit(_run_task, tasks[submitted]))
                submitted += 1
            future = pending.popleft()
            try:
                result = local(tasks[index]) if future is None else future.result()
            except BrokenProcessPool:
                raise WorkerError(
                    f"a worker process ended without returning task {index} (killed or out of "
                    "memory?): try fewer jobs"
                ) from None
            yield result
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
