"""The whole nightly job end to end: wall time, and the time and peak memory of each step.

    python -m bench.nightly --customers 100000

Runs `hourglass run --job nightly` on a fresh lake and warehouse over the cached landing files, the way the
schedule would, then reads each step's time from the Dagster run. Then it runs again, as the next night:
unchanged landing files are skipped, GA4 fetches its last days again, the incremental dbt models take in their
last days and the rest of the middle is rebuilt, and campaigns send only past their cooldown. Peak memory is
that of the largest single process of the run (the job's own process or a dbt subprocess; its high-water mark)
and that of all the job's processes together, sampled every 0.2 s; each step's peak is the latter's largest
sample while it ran (the job runs one step at a time). GA4 is served by the project's emulator in a process of
its own, as the real Data API would be (bench/ga4_server.py); its peak is shown apart. `--ga4 embedded` runs
it inside the job instead, as `hourglass demo` does.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from bench.common import AS_OF, TreeSampler, dataset, measured, table

TARGET_SECONDS = 90
TARGET_GB = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
    parser.add_argument("--nights", type=int, default=2, choices=[1, 2], help="2: then run it again, as the next night")
    parser.add_argument("--ga4", choices=["external", "embedded"], default="external", help="where the emulator runs")
    args = parser.parse_args()

    landing = dataset(args.root, args.customers, args.seed)
    home = landing.parent / "nightly"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "landing").symlink_to(landing)
    env = {
        **os.environ,
        "HOURGLASS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HOURGLASS_AS_OF_DATE": AS_OF.isoformat(),
        "HOURGLASS_NOW": f"{AS_OF}T10:00:00",
    }
    command = [str(Path(sys.executable).parent / "hourglass"), "run", "--job", "nightly", "--log-level", "ERROR"]
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    with ga4_endpoint(landing, env, args.ga4 == "external") as emulator_peak_gb:
        for title in ("first run (empty lake and warehouse)", "the next night (steady state)")[: args.nights]:
            samples: list[tuple[float, float]] = []
            seconds, peak_gb = measured(command, env, samples=samples)
            steps = step_windows()
            print(f"nightly job, {args.customers:,} customers, {title}: {seconds:.0f} s end to end "
                  f"(target {TARGET_SECONDS} s), peak memory of the largest process {peak_gb:.1f} GB "
                  f"(target {TARGET_GB} GB), of all the job's processes together "
                  f"{max(gb for _, gb in samples):.1f} GB")  # fmt: skip
            peaks = [(key, end - start, step_peak(samples, start, end)) for key, start, end in steps]
            rows = [[key, f"{took:.1f}", f"{gb:.1f}"] for key, took, gb in peaks[:8]]
            print(table(["slowest steps", "seconds", "peak GB"], rows))
            heaviest = sorted(peaks, key=lambda step: -step[2])[:3]
            print("  largest peaks: " + ", ".join(f"{key} {gb:.1f} GB" for key, _, gb in heaviest))
    if emulator_peak_gb:
        print(f"the GA4 emulator's own process (not the pipeline's): peak {emulator_peak_gb[0]:.1f} GB")


@contextmanager
def ga4_endpoint(landing: Path, env: dict, external: bool):
    """With `external`, the emulator serves the dataset's GA4 file from a process of its own and `env` points the
    job at it; yields a list that holds that process's peak memory (GB) once it has stopped."""
    peak: list[float] = []
    if not external:
        yield peak
        return
    data_file = sorted((landing / "ga4_web").glob("ga4_web_*.csv"))[-1]
    property_id = "properties/1"
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.ga4_server", str(data_file), property_id],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    sampler = TreeSampler(server.pid, [], interval=1.0)
    sampler.start()
    try:
        env.update(HOURGLASS_GA4_ENDPOINT=server.stdout.readline().strip(), HOURGLASS_GA4_PROPERTY_ID=property_id)
        yield peak
    finally:
        server.stdin.close()
        server.wait()
        sampler.done.set()
        sampler.join()
        peak.append(sampler.peak_gb())


def step_windows() -> list[tuple[str, float, float]]:
    """The latest run's steps with their start and end (epoch seconds), slowest first."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        stats = [s for s in instance.get_run_step_stats(run.run_id) if s.end_time and s.start_time]
    return sorted(((s.step_key, s.start_time, s.end_time) for s in stats), key=lambda t: t[1] - t[2])


def step_peak(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """The job's processes' largest resident memory together while a step ran (the job runs one step at a
    time, in its own process or a dbt subprocess); a step shorter than the sampling gets the next sample."""
    inside = [gb for at, gb in samples if start <= at <= end]
    after = [gb for at, gb in samples if at > end][:1]
    return max(inside or after or [0.0])


if __name__ == "__main__":
    main()
