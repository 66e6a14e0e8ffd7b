"""The whole nightly job end to end: wall time, time per step, and the peak memory of the largest process.

    python -m bench.nightly --customers 100000

Runs `hourglass run --job nightly` on a fresh lake and warehouse over the cached landing files, the way the
schedule would, then reads each step's time from the Dagster run. Then it runs again, as the next night:
unchanged landing files are skipped, GA4 fetches its last days again, the incremental dbt models take in
their last days and the rest of the middle is rebuilt, and campaigns send only past their cooldown. Peak
memory is the largest resident set of any single process of the run (the job's own process or a dbt
subprocess), from wait4.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import AS_OF, dataset, measured, table

TARGET_SECONDS = 180
TARGET_GB = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
    parser.add_argument("--nights", type=int, default=2, choices=[1, 2], help="2: then run it again, as the next night")
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
    for title in ("first run (empty lake and warehouse)", "the next night (steady state)")[: args.nights]:
        seconds, peak_gb = measured(command, env)
        steps = step_seconds()
        print(f"nightly job, {args.customers:,} customers, {title}: {seconds:.0f} s end to end "
              f"(target {TARGET_SECONDS} s), peak memory of the largest process {peak_gb:.1f} GB "
              f"(target {TARGET_GB} GB)")  # fmt: skip
        print(table(["slowest steps", "seconds"], [[key, f"{s:.1f}"] for key, s in steps[:8]]))


def step_seconds() -> list[tuple[str, float]]:
    """The latest run's steps, slowest first."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        stats = [s for s in instance.get_run_step_stats(run.run_id) if s.end_time and s.start_time]
    return sorted(((s.step_key, s.end_time - s.start_time) for s in stats), key=lambda t: -t[1])


if __name__ == "__main__":
    main()
