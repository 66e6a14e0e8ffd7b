"""What is in each layer of the hourglass right now, as counts a person can read in a terminal."""

from __future__ import annotations

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
        for path in sorted((settings.lake_dir() / "audiences").glob("*.parquet")):
            # count(customer_key): dbt-duckdb writes an empty audience as one all-null row
            layers["audiences"][path.stem] = con.execute(
                f"select count(customer_key) from read_parquet('{path}')"
            ).fetchone()[0]
    if settings.warehouse_path().exists():
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            _warehouse(con, layers)
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


def _warehouse(con: duckdb.DuckDBPyConnection, layers: dict[str, dict[str, int]]) -> None:
    tables = con.execute("select table_name from information_schema.tables order by 1").fetchall()
    inner = 0
    for (table,) in tables:
        if table.startswith(("stg_", "int_")):
            inner += 1
            continue
        layers["warehouse"][table] = con.execute(f'select count(*) from "{table}"').fetchone()[0]
    if inner:
        layers["warehouse"]["staging and intermediate models (count)"] = inner
    if ("customer_360",) in tables:
        for stage, n in con.execute(
            "select lifecycle_stage, count(*) from customer_360 group by 1 order by 2 desc"
        ).fetchall():
            layers["lifecycle stages"][stage] = n
        counts = ", ".join(f"count(*) filter (where {rule})" for rule in SEGMENT_COUNTS.values())
        values = con.execute(f"select {counts} from customer_segments").fetchone()
        layers["segments"] = dict(zip(SEGMENT_COUNTS, values, strict=True))


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def render(layers: dict[str, dict[str, int]]) -> str:
    home = settings.home()
    out = [f"hourglass summary  (HOURGLASS_HOME={home})", ""]
    for layer, counts in layers.items():
        out.append(f"{layer}:")
        if not counts:
            out.append("  (none yet)")
        width = max((len(name) for name in counts), default=0)
        out.extend(f"  {name:<{width}}  {n:>10,}" for name, n in counts.items())
        out.append("")
    out += [
        "where to look next:",
        f"  KPI report    {home / 'reports' / 'kpi_report.html'}   (opens offline in any browser)",
        f"  messages      {home / 'outbox'}   (and the send ledger: {home / 'ledger' / 'sends.sqlite'})",
        f"  lake          {home / 'lake'}   (quarantine/ holds every row that could not be loaded, with its reason)",
        f"  warehouse     {settings.warehouse_path()}   (duckdb -readonly)",
        "  Dagster UI    make dev  ->  http://127.0.0.1:3000",
    ]
    return "\n".join(out)
