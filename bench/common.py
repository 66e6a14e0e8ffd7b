"""Helpers the benchmarks share: a generated data set cached per scale, medians, tables."""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

AS_OF = date(2026, 11, 20)


def dataset(root: Path, customers: int, seed: int = 42) -> Path:
    """Landing files for this scale, generated once and reused by later runs."""
    from hourglass.sample.generator import generate

    landing = root / f"c{customers}-s{seed}" / "landing"
    done = landing / "_truth" / "planted.json"
    if not done.exists():
        started = time.perf_counter()
        generate(out=landing, customers=customers, seed=seed, as_of=AS_OF)
        print(f"generated {customers:,} customers in {time.perf_counter() - started:.1f}s -> {landing}")
    return landing


def measured(
    command: list[str], env: dict, cwd: Path | None = None, samples: list | None = None
) -> tuple[float, float]:
    """Run to completion in a process of its own: wall seconds and the peak resident memory (GB) of the largest
    process of its tree (each one's high-water mark, VmHWM). Not wait4's ru_maxrss: a child starts from its
    parent's peak there, so after the bench itself grew (generating data) every child reported at least that.
    With `samples`, it is filled with (epoch seconds, GB) of the whole tree's resident memory, every 0.2 s, so a
    step's peak can be read from its time window. stderr goes to a file (a pipe nobody reads could fill and
    stall the child); its tail is shown if the command fails."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        sampler = TreeSampler(proc.pid, [] if samples is None else samples)
        sampler.start()
        status = proc.wait()
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        if status != 0:
            errors.seek(0)
            sys.exit(f"{' '.join(command)} failed after {seconds:.0f} s:\n{errors.read().decode()[-3000:]}")
    return seconds, sampler.peak_gb()


class TreeSampler(threading.Thread):
    """Reads /proc (Linux) every `interval` seconds: the resident memory of `root` and all its descendants
    summed, and each process's high-water mark."""

    def __init__(self, root: int, samples: list, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.samples, self.interval = root, samples, interval
        self.done, self.high_water = threading.Event(), {}

    def run(self) -> None:
        while True:
            self.sample()
            if self.done.wait(self.interval):
                return

    def sample(self) -> None:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                parent = _parent(entry.name)
                if parent is not None:
                    children.setdefault(parent, []).append(int(entry.name))
        tree, frontier, resident = [self.root], [self.root], 0
        while frontier:
            found = children.get(frontier.pop(), [])
            tree += found
            frontier += found
        for pid in tree:
            status = _status(pid)
            if status:  # gone meanwhile otherwise
                resident += status["VmRSS"]
                self.high_water[pid] = max(self.high_water.get(pid, 0), status["VmHWM"])
        self.samples.append((time.time(), resident / 1024**3))

    def peak_gb(self) -> float:
        """The largest high-water mark of any one process seen."""
        return max(self.high_water.values(), default=0) / 1024**3


def _parent(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])  # the command's name may hold spaces
    except OSError:
        return None


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in bytes; empty for a process that is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            lines = [line.split() for line in fh if line.startswith(("VmRSS:", "VmHWM:"))]
    except OSError:
        return {}
    return {line[0].rstrip(":"): int(line[1]) * 1024 for line in lines}


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [
        [f"{c:,.0f}" if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else str(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
