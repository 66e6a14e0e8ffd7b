"""What is in each layer of the hourglass right now, as counts a person can read in a terminal."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb

from hourglass import lake, settings
from hourglass.sources import CONTRACTS


def collect() -> dict[str, dict[str, int]]:
    home = settings.home()
    layers: dict[str, dict[str, int]] = {
        "lake rows": {},
        "quarantined rows": {},
        "warehouse": {},
        "lifecycle stages": {},
        "segments": {},
        "audiences": {},
        "outbox": {},
    }
    with duckdb.connect() as con:
        for source in CONTRACTS:
            layers["lake rows"][source] = lake.row_count(lake.raw_dataset(source))
            layers["quarantined rows"][source] = lake.row_count(lake.quarantine_dataset(source))
        for name, files in settings.audience_exports().items():
            # count(customer_key): dbt-duckdb writes an empty audience as one all-null row
            layers["audiences"][name] = con.execute(
                f"select count(customer_key) from read_parquet('{files}')"
            ).fetchone()[0]
    if settings.engine() == "spark":
        from hourglass import spark

        tables = sorted(name for _, name, temporary in spark.query("show tables") if not temporary)
        _warehouse(spark.query, tables, layers)
    elif settings.warehouse_path().exists():
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            tables = [
                name
                for (name,) in con.execute("select table_name from information_schema.tables order by 1").fetchall()
            ]
            _warehouse(lambda sql: con.execute(sql).fetchall(), tables, layers)
    for channel_dir in sorted(p for p in (home / "outbox").glob("*") if p.is_dir()):
        layers["outbox"][channel_dir.name] = sum(_lines(f) for f in channel_dir.rglob("*.jsonl"))
    return layers


SEGMENT_COUNTS = {
    "young people": "is_young_person",
    "double income, no kids": "is_double_income_no_kids",
    "expats": "is_expat",
    "engaged in the last 90 days": "is_engaged_recently",
    "high value": "value_tier = 'high value'",
    "main interest theatre": "main_interest = 'theatre'",
    "main interest workshops": "main_interest = 'workshop'",
}


def _warehouse(query: Callable[[str], list[tuple]], tables: list[str], layers: dict[str, dict[str, int]]) -> None:
    """Counts of the warehouse's tables: `query` runs SQL that DuckDB and Spark read alike."""
    inner = 0
    for table in tables:
        if table.startswith(("stg_", "int_")):
            inner += 1
            continue
        layers["warehouse"][table] = query(f"select count(*) from {table}")[0][0]
    if inner:
        layers["warehouse"]["staging and intermediate models (count)"] = inner
    if "customer_360" in tables:
        for stage, n in query("select lifecycle_stage, count(*) from customer_360 group by 1 order by 2 desc"):
            layers["lifecycle stages"][stage] = n
        counts = ", ".join(f"count(*) filter (where {rule})" for rule in SEGMENT_COUNTS.values())
        values = query(f"select {counts} from customer_segments")[0]
        layers["segments"] = dict(zip(SEGMENT_COUNTS, values, strict=True))


def campaigns() -> dict[str, dict[str, int]]:
    """Per campaign: its audience now, and what its latest run decided: messages sent (also per channel),
    failed or rejected, decisions suppressed (cooldown, consent, address, quiet hours, cap), people held out."""
    from hourglass.activation import RECEIPTS

    found: dict[str, dict[str, int]] = {}
    with duckdb.connect() as con:
        for name, files in settings.audience_exports().items():
            size = con.execute(f"select count(customer_key) from read_parquet('{files}')").fetchone()[0]
            found[name] = {**dict.fromkeys(CAMPAIGN_COLUMNS, 0), "audience": size}
        receipts = lake.raw_dataset(RECEIPTS)
        if not lake.has_files(receipts):
            return found
        rows = con.execute(
            f"""
            with receipts as (select * from read_parquet('{lake.files_glob(receipts)}')),
            latest as (select campaign, arg_max(run_id, recorded_at) as run_id from receipts group by campaign)
            select campaign, status, channel, count(*) from receipts inner join latest using (campaign, run_id)
            group by all order by all
            """
        ).fetchall()
    for campaign, status, channel, n in rows:
        counts = found.setdefault(campaign, dict.fromkeys(CAMPAIGN_COLUMNS, 0))
        counts[RECEIPT_COLUMN[status]] += n
        if status == "sent":
            counts[f"sent by {channel}"] = n
    return found


CAMPAIGN_COLUMNS = ("audience", "sent", "failed", "suppressed", "held out")
# receipt status -> column (activation.RECEIPT_SCHEMA)
RECEIPT_COLUMN = {
    "sent": "sent",
    "failed": "failed",
    "rejected": "failed",
    "suppressed": "suppressed",
    "held_out": "held out",
}


def render_campaigns(found: dict[str, dict[str, int]]) -> list[str]:
    columns = CAMPAIGN_COLUMNS
    width = max((len(name) for name in found), default=8)
    out = [f"  {'campaign':<{width}}" + "".join(f"  {c:>10}" for c in columns) + "  sent by channel"]
    for name, counts in found.items():
        channels = ", ".join(
            f"{k.removeprefix('sent by ')} {n:,}" for k, n in counts.items() if k.startswith("sent by")
        )
        out.append(f"  {name:<{width}}" + "".join(f"  {counts[c]:>10,}" for c in columns) + f"  {channels}".rstrip())
    return [*out, "  (sent, failed and suppressed count messages, one per person and channel; held out counts people)"]


EFFECT_COLUMNS = [
    "campaign", "send_windows", "treated", "held_out", "uplift", "uplift_ci_low", "uplift_ci_high", "verdict"
]  # fmt: skip


def effects() -> list[dict]:
    """Per campaign: its measured uplift over the send windows whose attribution window has closed
    (campaign_effect_overall), and the planted truth's direction where the sample generator wrote one."""
    sql = f"select {', '.join(EFFECT_COLUMNS)} from campaign_effect_overall order by campaign"
    rows: list[tuple] = []
    if settings.engine() == "spark":
        from hourglass import spark

        if "campaign_effect_overall" in {name for _, name, temporary in spark.query("show tables") if not temporary}:
            rows = spark.query(sql)
    elif settings.warehouse_path().exists():
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            if con.execute(
                "select count(*) from information_schema.tables where table_name = 'campaign_effect_overall'"
            ).fetchone()[0]:
                rows = con.execute(sql).fetchall()
    found = [dict(zip(EFFECT_COLUMNS, row, strict=True)) for row in rows]
    truth = settings.landing_dir() / "_truth" / "planted.json"
    planted = json.loads(truth.read_text(encoding="utf-8")).get("campaign_history", {}) if truth.exists() else {}
    for row in found:
        row["planted"] = planted.get("campaigns", {}).get(row["campaign"], {}).get("direction", "")
    return found


def render_effects(found: list[dict]) -> list[str]:
    if not found:
        return ["  (no send whose attribution window has closed yet)"]
    width = max(len(row["campaign"]) for row in found)
    out = [f"  {'campaign':<{width}}  {'uplift':>7}  {'95% interval':<17}  {'verdict':<26}  planted effect"]
    for row in found:
        if row["uplift"] is None or row["uplift_ci_low"] is None:
            measured = f"{'-':>7}  {'':<17}"
        else:
            low, high = 100 * row["uplift_ci_low"], 100 * row["uplift_ci_high"]
            measured = f"{100 * row['uplift']:>+7.1f}  [{low:+6.1f}, {high:+6.1f}]"
        out.append(f"  {row['campaign']:<{width}}  {measured}  {row['verdict']:<26}  {row['planted']}".rstrip())
    note = [
        "  (uplift in conversion, percentage points: treated against held out over the past send windows,",
        "   a person once per window; the interval counts a person's windows as one draw into the holdout)",
    ]
    return [*out, *note]


def render_scorecard(brief: bool = False) -> list[str]:
    """Each KPI against its goal (kpi_scorecard); brief: a line per owner with its statuses and missed KPIs."""
    from hourglass import scorecard

    rows = scorecard.read()
    if not rows:
        return ["  (no scorecard yet)"]
    note = f"  ({rows[0]['period_start']:%B %Y}; goals: dbt_project/seeds/kpi_goals.csv)"
    width = max(len(row["kpi"]) for row in rows)
    if brief:
        out = []
        for owner in sorted({row["owner"] for row in rows}):
            owned = [row for row in rows if row["owner"] == owner]
            counts = Counter(row["status"] for row in owned)
            missed = [row["kpi"] for row in owned if row["status"] == scorecard.MISSED]
            text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            out.append(f"  {owner:<12}{text}" + (f"; missed: {', '.join(missed)}" if missed else ""))
        return [*out, note]
    out = [f"  {'kpi':<{width}}  {'owner':<10}  {'actual':>10}  {'goal':>10}  status"]
    for row in rows:
        actual, goal = scorecard.figure(row["actual"]), scorecard.figure(row["target"])
        out.append(f"  {row['kpi']:<{width}}  {row['owner']:<10}  {actual:>10}  {goal:>10}  {row['status']}")
    return [*out, note]


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def render(layers: dict[str, dict[str, int]]) -> str:
    out = [f"hourglass summary  (HOURGLASS_HOME={settings.home()})", ""]
    for layer, counts in layers.items():
        out.append(f"{layer}:")
        if not counts:
            out.append("  (none yet)")
        width = max((len(name) for name in counts), default=0)
        out.extend(f"  {name:<{width}}  {n:>10,}" for name, n in counts.items())
        out.append("")
    out += ["campaigns (their latest run):", *render_campaigns(campaigns()), ""]
    out += ["campaign effect (past sends):", *render_effects(effects()), ""]
    out += ["KPI goals:", *render_scorecard(), "", *_where_next()]
    return "\n".join(out)


def render_brief(layers: dict[str, dict[str, int]], log: Path) -> str:
    """What the demo prints: the layers in a few totals, each campaign's run, and where to look next."""
    lake_rows, quarantined = sum(layers["lake rows"].values()), sum(layers["quarantined rows"].values())
    warehouse = layers["warehouse"]
    out = [
        f"lake        {lake_rows:,} rows loaded, {quarantined:,} quarantined with their reasons",
        f"warehouse   {warehouse.get('customer_360', 0):,} customers (customer_360) from "
        f"{warehouse.get('identity_map', 0):,} source records (identity_map)",
        "",
        "campaigns:",
        *render_campaigns(campaigns()),
        "",
        "campaign effect (past sends; planted effect: what the sample data hid in them):",
        *render_effects(effects()),
        "",
        "KPI goals (per owner; hourglass summary lists them):",
        *render_scorecard(brief=True),
        "",
        *_where_next(log),
        "  per layer     hourglass summary",
    ]
    return "\n".join(out)


def _where_next(log: Path | None = None) -> list[str]:
    home = settings.home()
    return [
        "where to look next:",
        *([f"  full log      {log}   (dbt, Dagster, library messages)"] if log else []),
        f"  KPI report    {home / 'reports' / 'kpi_report.html'}   (opens offline in any browser)",
        f"  messages      {home / 'outbox'}   (and the send ledger: {home / 'ledger' / 'sends.sqlite'})",
        f"  lake          {home / 'lake'}   (quarantine/ holds every row that could not be loaded, with its reason)",
        (
            f"  warehouse     Spark, schema {os.environ.get('HOURGLASS_SPARK_SCHEMA') or 'hourglass'}   "
            f"(hourglass spark status: its Thrift port)"
            if settings.engine() == "spark"
            else f"  warehouse     {settings.warehouse_path()}   (duckdb -readonly)"
        ),
        "  Dagster UI    make dev  ->  http://127.0.0.1:3000",
    ]
