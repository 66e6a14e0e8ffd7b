"""Say when a run failed, and which steps and blocking checks failed, in the log and optionally to a webhook.

HOURGLASS_ALERT_WEBHOOK_URL receives a JSON POST (a chat or incident tool's incoming webhook); without it
the sensor only logs. No personal data is in the message: job, run id, failed steps and checks. The URL is
often a secret path, so a failed post raises an error that names only its host (see hourglass/redact.py).
"""

import json
import os

import dagster as dg
import requests

from hourglass.redact import describe, redact


class AlertError(Exception):
    """The alert webhook did not take the report."""


def failure_report(context: dg.RunFailureSensorContext) -> dict:
    run = context.dagster_run
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    failed_checks = []
    for record in context.instance.get_records_for_run(run.run_id).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return {
        "job": run.job_name,
        "run_id": run.run_id,
        "failed_steps": failed_steps,
        "failed_blocking_checks": sorted(failed_checks),
        "message": redact(context.failure_event.message or ""),
    }


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs each failed run, its failed steps and blocking checks; posts it to HOURGLASS_ALERT_WEBHOOK_URL.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    report = failure_report(context)
    context.log.error(f"run failed: {json.dumps(report)}")
    url = os.environ.get("HOURGLASS_ALERT_WEBHOOK_URL")
    if url:
        post_alert(url, report)


def post_alert(url: str, report: dict) -> None:
    try:
        response = requests.post(url, json=report, timeout=10, headers={"Idempotency-Key": report["run_id"]})
        response.raise_for_status()
        return
    except requests.RequestException as exc:
        problem = describe(exc, url)
    # Raised outside the handler: a chained cause would carry the URL into Dagster's stored error.
    raise AlertError(f"the alert webhook (HOURGLASS_ALERT_WEBHOOK_URL) did not take the report: {problem}")
