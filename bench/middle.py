"""The dbt middle against one hand-written DuckDB script, and an incremental nightly against a full build.

    python -m bench.middle --customers 1000000

Needs the lake that `python -m bench.nightly` left for the same scale. Measured in one run, each in a process
of its own (wall time, and peak memory as its largest process's high-water mark):
1. the hand-written script (bench/middle_script.sql) in one DuckDB connection: identity, per-customer order,
   e-mail and web metrics, lifecycle, one audience;
2. `dbt run` of the models doing the same core work (identity_map, int_customer_orders/_email/_web,
   int_customer_lifecycle and what they need), on an empty warehouse: the ratio to 1 is the figure that matters;
3. `dbt build` of the whole middle with --full-refresh as of the day before (tests excluded);
4. then the nightly `dbt build` as of the next day, three times from the same full build (the median counts):
   the incremental models (tag daily) take in their last days, everything per customer is built again. Its
   share of the full build, with the slowest models of both.

    python -m bench.middle --customers 100000 --engine duckdb spark

instead builds the whole middle once on each engine, side by side, the way a night does (model_steps.dbt_build:
dbt's three parts with the Python steps between them), each in a fresh home over the same lake: wall time, each
part's, and the slowest models. Spark runs on the local cluster hourglass starts (hourglass/spark.py), whose
start is timed apart; its memory is not measured (the cluster's processes are not the bench's children).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.common import AS_OF, measured, table

CORE = "+int_customer_lifecycle +int_customer_email +int_customer_web"
NIGHTS = 3
SCRIPT = Path(__file__).with_name("middle_script.sql")


def run_script(lake: Path, database: Path) -> None:
    """The hand-written script in one connection; label propagation repeats until no label changes."""
    import duckdb

    text = SCRIPT.read_text().replace("{lake}", str(lake)).replace("{as_of}", AS_OF.isoformat())
    with duckdb.connect(str(database)) as con:
        for step in text.split("-- step\n")[1:]:
            before, _, repeat = step.partition("-- repeat\n")
            con.execute(before)
            while repeat:
                fingerprint = con.sql("select sum(hash(record_id, label)) from record_label").fetchall()
                con.execute(repeat)
                if con.sql("select sum(hash(record_id, label)) from record_label").fetchall() == fingerprint:
                    break


def same_work(home: Path) -> tuple[int, int]:
    """dbt's customers whose records the script puts in the same lifecycle stage, and dbt's customer count."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"attach '{home / 'script.duckdb'}' as s (read_only)")
        con.execute(f"attach '{home / 'warehouse.duckdb'}' as w (read_only)")
        return con.sql(
            """
            with script as (
                select m.record_id, c.lifecycle_stage
                from s.identity_map m join s.customer_metrics c using (customer_key)
            ), dbt as (
                select m.record_id, l.lifecycle_stage, m.customer_key
                from w.main.identity_map m join w.main.int_customer_lifecycle l using (customer_key)
            )
            select count(distinct dbt.customer_key) filter (where script.lifecycle_stage = dbt.lifecycle_stage),
                   (select count(*) from w.main.int_customer_lifecycle)
            from dbt left join script using (record_id)
            """
        ).fetchall()[0]


def model_seconds(target: Path) -> tuple[list[tuple[str, float]], float, float]:
    """Each model's time, slowest first, and the summed time of the incremental models and of the others."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    timed = [(r["unique_id"], r["execution_time"]) for r in results if r["unique_id"].startswith("model.")]
    incremental = sum(t for uid, t in timed if nodes[uid]["config"]["materialized"] == "incremental")
    others = sum(t for _, t in timed) - incremental
    return sorted(((uid.split(".")[-1], t) for uid, t in timed), key=lambda t: -t[1]), incremental, others


def engine_build(scale: Path, engine: str) -> dict:
    """The whole middle built once on `engine` in a fresh home over the scale's lake: seconds for the local
    cluster's start (Spark), each part and the whole, and each model's seconds."""
    import time

    from hourglass import model_steps, settings, spark

    home = scale / f"middle-{engine}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "lake" / "audiences").mkdir(parents=True)
    for dataset in ("raw", "quarantine"):
        (home / "lake" / dataset).symlink_to(scale / "nightly" / "lake" / dataset)
    os.environ.update(HOURGLASS_HOME=str(home), HOURGLASS_ENGINE=engine, HOURGLASS_AS_OF_DATE=AS_OF.isoformat())
    os.environ.pop("HOURGLASS_SPARK_PORT", None)
    started = time.perf_counter()
    if engine == "spark":
        spark.ensure()  # started here, and its port set for dbt's profile (a parse for another is not reused)
    cluster_s = time.perf_counter() - started
    target = home / "target"
    parts, models = [], {}
    dbt = str(Path(sys.executable).parent / "dbt")

    def dbt_cli(args: list[str]) -> None:
        begun = time.perf_counter()
        if engine == "spark":
            spark.ensure()
        subprocess.run([dbt, *args, "--target-path", str(target)], cwd=settings.DBT_PROJECT_DIR, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        parts.append(time.perf_counter() - begun)
        results = json.loads((target / "run_results.json").read_text())["results"]
        for result in results:  # a model runs in one part; the on-run-start hook in each
            name = result["unique_id"].split(".")[-1]
            models[name] = models.get(name, 0.0) + result["execution_time"]

    try:
        # parsed first, outside the timing: a night's run starts from a saved parse
        subprocess.run([dbt, "parse", "--target-path", str(target)], cwd=settings.DBT_PROJECT_DIR, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        started = time.perf_counter()
        no_tests = ("--exclude-resource-type", "test", "unit_test")
        model_steps.dbt_build(dbt_cli, "fqn:*", "--full-refresh", *no_tests, day=AS_OF)
        total = time.perf_counter() - started
    finally:
        if engine == "spark":
            spark.stop()
    return {"cluster": cluster_s, "parts": parts, "total": total, "models": models}


def compare_engines(scale: Path, customers: int, engines: list[str]) -> None:
    builds = {engine: engine_build(scale, engine) for engine in engines}
    print(f"the whole middle at {customers:,} customers, {os.cpu_count()} cores, one full build per engine")
    names = ["before the steps", "after identity", "after CLV"]
    rows = [[f"dbt part: {name}", *(f"{b['parts'][i]:.1f}" for b in builds.values())] for i, name in enumerate(names)]
    rows.append(["Python steps (identity, CLV)", *(f"{b['total'] - sum(b['parts']):.1f}" for b in builds.values())])
    rows.append(["the middle, steps included", *(f"{b['total']:.1f}" for b in builds.values())])
    rows.append(["local cluster start", *(f"{b['cluster']:.1f}" if e == "spark" else "-" for e, b in builds.items())])
    print(table(["seconds", *builds], rows))
    slowest = sorted({m for b in builds.values() for m in sorted(b["models"], key=lambda m: -b["models"][m])[:10]},
                     key=lambda m: -max(b["models"].get(m, 0) for b in builds.values()))  # fmt: skip
    rows = [[name, *(f"{b['models'].get(name, 0):.1f}" for b in builds.values())] for name in slowest]
    print(table(["slowest models (s)", *builds], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
    parser.add_argument("--nights", type=int, default=NIGHTS, help="nightly runs, each from the full build")
    parser.add_argument("--builds-only", action="store_true", help="only steps 3 and 4: the full build and the nightly")
    parser.add_argument("--script-only", type=Path, help=argparse.SUPPRESS)  # the child process of step 1
    parser.add_argument(
        "--engine", nargs="+", choices=["duckdb", "spark"], help="only the whole middle on each engine, side by side"
    )
    args = parser.parse_args()
    scale = args.root / f"c{args.customers}-s{args.seed}"
    if args.script_only:
        run_script(scale / "nightly" / "lake" / "raw", args.script_only)
        return

    raw = scale / "nightly" / "lake" / "raw"
    if not (raw / "ga4_web").is_dir():
        sys.exit(f"{raw} is missing: run `python -m bench.nightly --customers {args.customers}` first")
    if args.engine:
        compare_engines(scale, args.customers, args.engine)
        return
    home = scale / "middle"
    shutil.rmtree(home, ignore_errors=True)
    (home / "lake" / "audiences").mkdir(parents=True)
    (home / "lake" / "raw").symlink_to(raw)
    from hourglass import settings

    project = settings.DBT_PROJECT_DIR
    dbt = str(Path(sys.executable).parent / "dbt")
    env = {**os.environ, "HOURGLASS_HOME": str(home)}

    from hourglass.project import dbt_project, prepare

    # `dbt parse` for this home (the profile names its warehouse, and a parse for another profile is not reused):
    # each step starts from the saved parse, as under Dagster, whose dbt resource copies it
    os.environ["HOURGLASS_HOME"] = str(home)
    prepare()

    def dbt_step(verb: str, as_of, *extra: str, run: int = 0) -> tuple[float, float, tuple]:
        (home / "warehouse.duckdb.wal").unlink(missing_ok=True)
        target = home / f"target-{verb}-{as_of}" / str(run)
        target.mkdir(parents=True)
        shutil.copy(dbt_project.project_dir / dbt_project.target_path / "partial_parse.msgpack", target)
        command = [dbt, verb, "--target-path", str(target), *extra]
        seconds, peak = measured(command, {**env, "HOURGLASS_AS_OF_DATE": as_of.isoformat()}, cwd=project)
        return seconds, peak, model_seconds(target)

    if not args.builds_only:
        script_s, script_gb = measured(
            [sys.executable, "-m", "bench.middle", "--customers", str(args.customers), "--seed", str(args.seed),
             "--root", str(args.root), "--script-only", str(home / "script.duckdb")],
            env,
        )  # fmt: skip
        core_s, core_gb, core_slow = dbt_step("run", AS_OF, "--select", CORE)
        agree, customers = same_work(home)
        (home / "warehouse.duckdb").unlink()
    day_before = AS_OF - timedelta(days=1)
    # no tests: data tests check the data, not the speed; unit tests are left out of runs (as in Dagster's)
    no_tests = ("--exclude", "test_type:data", "--exclude-resource-type", "unit_test")
    full_s, full_gb, full_slow = dbt_step("build", day_before, "--full-refresh", *no_tests)
    # The nightly is short, so the median of NIGHTS runs, each from the same full build (a copy of it).
    shutil.copy(home / "warehouse.duckdb", home / "full-build.duckdb")
    nights = []
    for run in range(args.nights):
        shutil.copy(home / "full-build.duckdb", home / "warehouse.duckdb")
        nights.append(dbt_step("build", AS_OF, *no_tests, run=run))
    (home / "full-build.duckdb").unlink()
    inc_s, inc_gb, inc_slow = sorted(nights, key=lambda night: night[0])[args.nights // 2]

    print(f"the dbt middle at {args.customers:,} customers, {os.cpu_count()} cores, one run each")
    if args.builds_only:
        print(f"full build {full_s:.1f} s ({full_gb:.1f} GB), nightly {inc_s:.1f} s ({inc_gb:.1f} GB): "
              f"{inc_s / full_s:.1%} (target at most 30%); the {args.nights} nightly runs: "
              + ", ".join(f"{night[0]:.1f} s" for night in nights))  # fmt: skip
        for title, (slow, _, _) in (("full build", full_slow), ("incremental nightly", inc_slow)):
            print(table([f"slowest models, {title}", "seconds"], [[name, f"{s:.1f}"] for name, s in slow[:8]]))
        return
    rows = [
        ["hand-written DuckDB script (core work)", f"{script_s:.1f}", f"{script_gb:.1f}", "1.0x"],
        ["dbt run of the same core models", f"{core_s:.1f}", f"{core_gb:.1f}", f"{core_s / script_s:.2f}x"],
        ["dbt build, whole middle, --full-refresh", f"{full_s:.1f}", f"{full_gb:.1f}", f"{full_s / script_s:.2f}x"],
        ["dbt build, nightly, one new day (incremental)", f"{inc_s:.1f}", f"{inc_gb:.1f}", f"{inc_s / script_s:.2f}x"],
    ]
    print(table(["step", "seconds", "peak GB", "vs script"], rows))
    print(f"the same work: script and dbt give {agree:,} of {customers:,} customers the same lifecycle stage")
    print(f"core dbt / script: {core_s / script_s:.2f}x (target at most 2x)")
    print(f"nightly / full build: {inc_s / full_s:.1%} (target at most 30%); the {args.nights} nightly runs: "
          + ", ".join(f"{night[0]:.1f} s" for night in nights))  # fmt: skip
    print(table(
        ["model time (summed over models)", "full build s", "nightly s", "nightly / full"],
        [[name, f"{full:.1f}", f"{inc:.1f}", f"{inc / full:.0%}"]
         for name, full, inc in (("incremental models (the daily ones)", full_slow[1], inc_slow[1]),
                                 ("the others, rebuilt every night", full_slow[2], inc_slow[2]))],
    ))  # fmt: skip
    for title, (slow, _, _) in (("full build", full_slow), ("incremental nightly", inc_slow), ("core", core_slow)):
        print(table([f"slowest models, {title}", "seconds"], [[name, f"{s:.1f}"] for name, s in slow[:6]]))


if __name__ == "__main__":
    main()
