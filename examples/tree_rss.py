"""Run a command and report its peak memory, counting every process it starts.

``/usr/bin/time -v`` reports the largest *single* process's peak RSS; a command that
decodes in several processes needs the peak of their *sum* as well. This samples the
resident set of the command and all its descendants (``/proc/<pid>/status``, VmRSS)
every ``--interval`` seconds and prints, on stderr, the peak of the sum, the peak of any
one process, the most processes seen at once and the wall time. Linux only; sampling can
miss a spike shorter than the interval.

    python examples/tree_rss.py -- bitsback decompress x.bbz -o x.npy
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command (after --)")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    started = time.perf_counter()
    child = subprocess.Popen(command)
    peak_sum = peak_one = most = 0
    while child.poll() is None:
        sizes = [_rss_kib(pid) for pid in _tree(child.pid)]
        peak_sum, peak_one, most = (
            max(peak_sum, sum(sizes)),
            max(peak_one, *sizes, 0),
            max(most, len(sizes)),
        )
        time.sleep(args.interval)
    wall = time.perf_counter() - started
    kernel_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        f"tree_rss: peak sum {peak_sum / 1024:.0f} MiB over up to {most} processes; peak single process "
        f"{peak_one / 1024:.0f} MiB sampled, {kernel_peak / 1024:.0f} MiB by the kernel (ru_maxrss); "
        f"wall {wall:.1f} s; exit {child.returncode}",
        file=sys.stderr,
    )
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
