"""What is in each layer of the hourglass right now, as counts a person can read in a terminal."""

from __future__ import annotations

from pathlib import Path

import duckdb

from hourglass import lake, settings
from hourglass.sources import CONTRACTS


def _parquet_rows(con: duckdb.DuckDBPyConnection, pattern: str) -> int:
    try:
        return con.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]
    except duckdb.IOException:  # no files yet
        return 0


def collect() -> dict[str, dict[str, int]]:
    home = settings.home()
    layers: dict[str, dict[str, int]] = {
        "lake rows": {},
        "quarantined rows": {},
        "warehouse": {},
        "audiences": {},
        "outbox": {},
    }
    with duckdb.connect() as con:
        for source in CONTRACTS:
            layers["lake rows"][source] = _parquet_rows(con, lake.raw_glob(source))
            layers["quarantined rows"][source] = _parquet_rows(
                con, str(lake.quarantine_dataset(source) / "load_date=*" / "*.parquet")
            )
        for path in sorted((settings.lake_dir() / "audiences").glob("*.parquet")):
            layers["audiences"][path.stem] = _parquet_rows(con, str(path))
    if settings.warehouse_path().exists():
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables order by 1, 2"
            ).fetchall()
            for schema, table in tables:
                layers["warehouse"][f"{schema}.{table}"] = con.execute(
                    f'select count(*) from "{schema}"."{table}"'
                ).fetchone()[0]
    for channel_dir in sorted(p for p in (home / "outbox").glob("*") if p.is_dir()):
        layers["outbox"][channel_dir.name] = sum(_lines(f) for f in channel_dir.rglob("*.jsonl"))
    return layers


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
        f"  messages      {home / 'outbox'}",
        f"  lake          {home / 'lake'}   (quarantine/ holds every row that could not be loaded, with its reason)",
        f"  warehouse     {settings.warehouse_path()}   (duckdb -readonly)",
        "  Dagster UI    make dev  ->  http://127.0.0.1:3000",
    ]
    return "\n".join(out)
