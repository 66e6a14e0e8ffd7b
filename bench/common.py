"""Helpers the benchmarks share: a generated data set cached per scale, medians, tables."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

AS_OF = date(2026, 11, 20)


def dataset(root: Path, customers: int, seed: int = 42) -> Path:
    """Landing files for this scale, generated once and reused by later runs."""
    from hourglass.generator import generate

    landing = root / f"c{customers}-s{seed}" / "landing"
    done = landing / "_truth" / "planted.json"
    if not done.exists():
        started = time.perf_counter()
        generate(out=landing, customers=customers, seed=seed, as_of=AS_OF)
        print(f"generated {customers:,} customers in {time.perf_counter() - started:.1f}s -> {landing}")
    return landing


def measured(command: list[str], env: dict, cwd: Path | None = None) -> tuple[float, float]:
    """Run to completion in a process of its own: wall seconds and the peak resident memory (GB) of it and its
    children (wait4). stderr goes to a file (a pipe nobody reads could fill and stall the child); its tail is
    shown if the command fails."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            sys.exit(f"{' '.join(command)} failed after {seconds:.0f} s:\n{errors.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024**2


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
