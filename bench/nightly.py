"""The whole nightly job end to end: wall time, time per step, and the peak memory of the largest process.

    python -m bench.nightly --customers 100000

Runs `hourglass run --job nightly` on a fresh lake and warehouse over the cached landing files, the way the
schedule would, then reads each step's time from the Dagster run. Peak memory is the largest resident set of
any single process of the run (the job's own process or a dbt subprocess), from getrusage.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import AS_OF, dataset, table

TARGET_SECONDS = 180
TARGET_GB = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
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
    started = time.perf_counter()
    done = subprocess.run(command, env=env)
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    if done.returncode != 0:
        sys.exit(f"the nightly job failed after {seconds:.0f}s")

    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        steps = sorted(
            (s for s in instance.get_run_step_stats(run.run_id) if s.end_time and s.start_time),
            key=lambda s: s.end_time - s.start_time,
            reverse=True,
        )
    rows = [[s.step_key, f"{s.end_time - s.start_time:.1f}"] for s in steps[:8]]
    print(f"nightly job, {args.customers:,} customers: {seconds:.0f} s end to end (target {TARGET_SECONDS} s)")
    print(f"peak memory of the largest process: {peak_gb:.1f} GB (target {TARGET_GB} GB)")
    print(table(["slowest steps", "seconds"], rows))


if __name__ == "__main__":
    main()
