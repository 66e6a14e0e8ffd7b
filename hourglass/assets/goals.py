"""A missed goal is an event: an asset check on kpi_scorecard names each KPI that missed its goal and its owner,
and posts them to HOURGLASS_ALERT_WEBHOOK_URL when one is set (the run-failure alert's webhook, hourglass/alerts.py).
"""

import os

import dagster as dg

from hourglass.alerts import post_alert
from hourglass.assets.digest import SCORECARD


def missed_report(rows: list[dict], run_id: str) -> dict:
    """What the alert webhook gets: scorecard figures only, no customer's data."""
    from hourglass import scorecard

    missed = [r for r in rows if r["status"] == scorecard.MISSED]
    return {
        "event": "kpi_goal_missed",
        "run_id": run_id,
        "missed": [
            {
                "kpi": r["kpi"],
                "owner": r["owner"],
                "period_start": str(r["period_start"]),
                "actual": r["actual"],
                "target": r["target"],
                "direction": r["direction"],
            }
            for r in missed
        ],  # fmt: skip
    }


@dg.asset_check(
    asset=SCORECARD,
    name="goals_met",
    pool="warehouse",  # reads the DuckDB file: not while dbt writes it
    description="Fails (a warning) for each KPI whose status is missed, naming the KPI and its owner; the list goes "
    "to HOURGLASS_ALERT_WEBHOOK_URL when set.",
)
def goals_met(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from hourglass import scorecard

    report = missed_report(scorecard.read(), context.run.run_id)
    missed = report["missed"]
    url = os.environ.get("HOURGLASS_ALERT_WEBHOOK_URL")
    if missed and url:
        post_alert(url, report)
    return dg.AssetCheckResult(
        passed=not missed,
        severity=dg.AssetCheckSeverity.WARN,
        description=("; ".join(f"{m['kpi']} missed its goal (owner: {m['owner']})" for m in missed) or None),
        metadata={
            "missed": dg.MetadataValue.json(missed),
            "missed_kpis": len(missed),
            "alerted": bool(missed and url),
        },
    )
