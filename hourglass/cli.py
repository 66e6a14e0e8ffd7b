"""`hourglass`: generate sample data, prepare dbt, run the nightly job, print what each layer holds."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from datetime import date
from pathlib import Path

from hourglass import settings


def _generate(args: argparse.Namespace) -> None:
    print(_generated(args))


def _generated(args: argparse.Namespace) -> str:
    from hourglass.sample.generator import generate

    out = Path(args.out) if args.out else settings.landing_dir()
    as_of = date.fromisoformat(args.as_of) if args.as_of else settings.as_of_date()
    started = time.perf_counter()
    written = generate(out=out, customers=args.customers, seed=args.seed, as_of=as_of)
    seconds = time.perf_counter() - started
    return f"generated {sum(written.values()):,} rows in {len(written)} files under {out} in {seconds:.1f}s"


def _prepare(_: argparse.Namespace) -> None:
    from hourglass.project import prepare

    settings.dagster_home()
    prepare()
    ensure_sources()


def ensure_sources() -> None:
    """Every lake source that has delivered nothing yet as a zero-row table (the landing sources, GA4, the
    activation receipts), so that dbt by hand runs on a new home as a Dagster run does."""
    from hourglass import activation, landing
    from hourglass.ga4 import SOURCE, report
    from hourglass.sources import CONTRACTS

    for contract in CONTRACTS.values():
        if contract.name != SOURCE:  # read through its API, not from landing files
            landing.ensure_not_missing(contract)
    report.ensure_not_missing(settings.as_of_date())
    activation.ensure_receipts()


def run_job(job_name: str, log_level: str = "INFO") -> bool:
    """Run a job in this process against the persistent Dagster instance, so `make dev` shows the run."""
    day = settings.as_of_date()
    if day < settings.history_start():
        raise ValueError(
            f"HOURGLASS_AS_OF_DATE {day} is before HOURGLASS_HISTORY_START {settings.history_start()}, the first day "
            "the jobs run for: set HOURGLASS_HISTORY_START to that day or earlier"
        )
    settings.dagster_home()
    from dagster import DagsterInstance

    from hourglass.definitions import defs

    with DagsterInstance.get() as instance:
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(
            instance=instance,
            partition_key=day.isoformat() if job.partitions_def else None,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    return result.success


def _run(args: argparse.Namespace) -> None:
    _prepare(args)
    if not run_job(args.job, args.log_level):
        sys.exit(f"job {args.job} failed: see the log above or the run in the Dagster UI (make dev)")


def _dagster_has_runs() -> bool:
    """Whether the Dagster instance may hold test results: a configured storage, or the default SQLite one made.
    Opening a default instance that does not exist yet would create it, and two senders would race to."""
    import yaml

    home = settings.dagster_home()
    config = yaml.safe_load((home / "dagster.yaml").read_text()) or {}
    return (home / "storage").exists() or any(k in config for k in ("storage", "run_storage", "event_log_storage"))


def _activate(args: argparse.Namespace) -> None:
    """One campaign's send outside Dagster, with the same rules and ledger (for operators and crash tests)."""
    import uuid

    from hourglass import activation
    from hourglass.campaigns import Campaign, audience_nodes
    from hourglass.project import manifest
    from hourglass.resources.channels import channel_resources, plain_secret

    campaigns = [Campaign.from_manifest_node(node) for node in audience_nodes(manifest())]
    chosen = next((c for c in campaigns if c.name == args.campaign), None)
    if chosen is None:
        sys.exit(f"no campaign {args.campaign!r}; campaigns: {', '.join(c.name for c in campaigns)}")
    # The same stop as the Dagster asset's: no send from an audience whose latest dbt test failed.
    from dagster import DagsterInstance

    from hourglass.assets.activation import audience_checks, failed_audience_checks

    failed = []
    if _dagster_has_runs():
        with DagsterInstance.get() as instance:
            failed = failed_audience_checks(instance, audience_checks(chosen.name))
    if failed:
        sys.exit(f"{chosen.name}: nothing was sent, its audience failed dbt tests: {', '.join(failed)}")
    resources = channel_resources(secret=plain_secret)
    channels = activation.Channels(**resources)
    try:
        result = activation.run_campaign(
            chosen, campaigns, channels, run_id=f"cli-{uuid.uuid4().hex[:12]}", approve_audience_change=args.approve
        )
    except activation.GuardError as exc:
        sys.exit(str(exc))
    for name, value in result.items():
        print(f"{name}: {value}")


def _summary(_: argparse.Namespace) -> None:
    from hourglass import summary

    print(summary.render(summary.collect()))


def _spark(args: argparse.Namespace) -> None:
    from hourglass import spark

    if args.action == "start":
        cluster = spark.start()
        print(f"local Spark cluster up: Thrift server on 127.0.0.1:{cluster.thrift_port}, logs in {spark.spark_dir()}")
    elif args.action == "stop":
        print("local Spark cluster stopped" if spark.stop() else "no local Spark cluster was running")
    else:
        cluster = spark.running()
        print(f"running: Thrift server on 127.0.0.1:{cluster.thrift_port}" if cluster else "not running")


def _person(args: argparse.Namespace) -> tuple[str, str]:
    ((option, value),) = [(o, v) for o in ("email", "phone", "customer_id") if (v := getattr(args, o, None))]
    return option, value


def _forget(args: argparse.Namespace) -> None:
    from hourglass.privacy.forget import forget
    from hourglass.privacy.person import UnknownIdentifier

    try:
        result = forget(*_person(args), reason=args.reason)
    except UnknownIdentifier as exc:
        sys.exit(str(exc))
    for name, value in result.items():
        print(f"{name}: {value}")


def _export_person(args: argparse.Namespace) -> None:
    from hourglass.privacy.export import export_person
    from hourglass.privacy.person import UnknownIdentifier

    try:
        result = export_person(*_person(args), out=Path(args.out), reason=args.reason)
    except UnknownIdentifier as exc:
        sys.exit(str(exc))
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in result.items()))


def _retention(_: argparse.Namespace) -> None:
    from hourglass.privacy import retention

    removed = retention.run()
    print(f"removed {removed.counts()['partitions']} partitions and {removed.counts()['files']} files")
    if _dagster_has_runs():
        from dagster import DagsterInstance

        from hourglass.assets.privacy import purge_forget_runs

        with DagsterInstance.get() as instance:
            print(f"deleted {purge_forget_runs(instance)} finished runs of the job forget from Dagster's storage")
    for dataset, days in removed.partitions.items():
        print(f"  {dataset}: {', '.join(days)}")


def _person_arguments(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--phone")
    who.add_argument("--customer-id", dest="customer_id")
    parser.add_argument("--reason", help="the request's reference, for the audit log (no personal data)")


def _docs(_: argparse.Namespace) -> None:
    from hourglass import sourcedocs

    print(f"wrote {sourcedocs.write()}")


def _demo(args: argparse.Namespace) -> None:
    """The console gets a few lines of progress and the summary; everything else goes to a log file."""
    from hourglass import runlog, summary

    args.out = None
    if args.as_of:
        os.environ["HOURGLASS_AS_OF_DATE"] = args.as_of
    log = runlog.new_path("demo")
    print(f"hourglass demo: {args.customers:,} customers (seed {args.seed}) as of {settings.as_of_date()}")
    print(f"full log: {log}")
    with runlog.captured(log) as console:
        console.write(f"1/3 {_generated(args)}\n")
        console.write("2/3 running the nightly job: ingest, dbt models and tests, campaigns, report ...\n")
        started = time.perf_counter()
        try:
            _prepare(args)
            ok = run_job(args.job, args.log_level)
        except Exception:  # noqa: BLE001 - its traceback belongs in the log, which the console names
            traceback.print_exc()
            ok = False
        seconds = time.perf_counter() - started
    if not ok:
        failed = sorted(set(re.findall(r'Execution of step "([^"]+)" failed', log.read_text(errors="replace"))))
        sys.exit(
            f"job {args.job} failed after {seconds:.0f}s (steps: {', '.join(failed) or 'see the log'}); log: {log}"
        )
    print(f"3/3 the nightly job ran in {seconds:.0f}s\n")
    print(summary.render_brief(summary.collect(), log))


# The demo data set; the test suite's shared pipeline runs on the same one, so "every audience is non-empty
# on the demo data" is something a test checks.
DEMO_CUSTOMERS, DEMO_SEED = 2000, 42


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hourglass", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write sample landing files for every source")
    gen.add_argument("--customers", type=int, default=DEMO_CUSTOMERS)
    gen.add_argument("--seed", type=int, default=DEMO_SEED)
    gen.add_argument("--out", help="folder for the landing files (default HOURGLASS_HOME/landing)")
    gen.add_argument("--as-of", help="the export day, YYYY-MM-DD (default HOURGLASS_AS_OF_DATE or today)")
    gen.set_defaults(func=_generate)

    prep = sub.add_parser("prepare", help="dbt parse into target/manifest.json; empty tables for sources without data")
    prep.set_defaults(func=_prepare)

    run = sub.add_parser("run", help="run a job headless (default: the nightly hourglass)")
    run.add_argument("--job", default="nightly")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=_run)

    act = sub.add_parser("activate", help="send one campaign now (the same rules as its Dagster asset)")
    act.add_argument("campaign")
    act.add_argument("--approve", action="store_true", help="send even if the audience size tripped the guard")
    act.set_defaults(func=_activate)

    sub.add_parser("summary", help="print rows per layer and messages per channel").set_defaults(func=_summary)

    cluster = sub.add_parser("spark", help="start, stop or show the local Spark cluster of HOURGLASS_ENGINE=spark")
    cluster.add_argument("action", choices=["start", "stop", "status"])
    cluster.set_defaults(func=_spark)

    forget = sub.add_parser("forget", help="erase one person everywhere under HOURGLASS_HOME (docs/privacy.md)")
    _person_arguments(forget)
    forget.set_defaults(func=_forget)

    export = sub.add_parser("export-person", help="everything held on one person as one JSON file")
    _person_arguments(export)
    export.add_argument("--out", required=True, help="the JSON file to write")
    export.set_defaults(func=_export_person)

    sub.add_parser("retention", help="remove what is older than its retention period").set_defaults(func=_retention)

    sub.add_parser("docs", help="rewrite docs/sources.md from the landing contracts").set_defaults(func=_docs)

    demo = sub.add_parser(
        "demo", help="generate sample data, run the nightly job, print the summary (the full log goes to a file)"
    )
    demo.add_argument("--customers", type=int, default=DEMO_CUSTOMERS)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--as-of", help="YYYY-MM-DD (default today)")
    demo.add_argument("--job", default="nightly")
    demo.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="of the log file"
    )
    demo.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
