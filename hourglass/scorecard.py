"""The KPI scorecard (the dbt model kpi_scorecard) as the team digest, the missed-goal check and the report read it.

The goals are data (dbt_project/seeds/kpi_goals.csv) and the status rule is SQL (kpi_scorecard.sql): nothing here
decides a status, it only reads and formats what the warehouse holds.
"""

from __future__ import annotations

from typing import Any

import duckdb

from hourglass import settings

MISSED = "missed"


def read() -> list[dict[str, Any]]:
    """Every scorecard row, by owner and KPI; empty before the scorecard was built."""
    sql = "select * from kpi_scorecard order by owner, domain, kpi"
    if settings.engine() == "spark":
        from hourglass import spark

        with duckdb.connect() as con:
            con.register("kpi_scorecard", spark.fetch("kpi_scorecard"))
            return _rows(con.sql(sql))
    if not settings.warehouse_path().exists():
        return []
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        found = con.sql("select 1 from duckdb_tables() where table_name = 'kpi_scorecard'").fetchall()
        return _rows(con.sql(sql)) if found else []


def _rows(relation: duckdb.DuckDBPyRelation) -> list[dict[str, Any]]:
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def moved_most(rows: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The `n` rows whose value changed most against the period before, relative to where it was."""
    changed = [r for r in rows if r.get("relative_change") is not None]
    return sorted(changed, key=lambda r: (-abs(r["relative_change"]), r["kpi"]))[:n]


def figure(value: float | None) -> str:
    """A KPI's value for people: whole from 100 up (and counts), two decimals from 1, three below (shares, rates)."""
    if value is None:
        return "-"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"


def change(row: dict[str, Any]) -> str:
    if row.get("change") is None:
        return "-"
    relative = f" ({row['relative_change']:+.0%})" if row.get("relative_change") is not None else ""
    return ("+" if row["change"] >= 0 else "") + figure(row["change"]) + relative
