"""Say when a run failed, and which steps and blocking checks failed, in the log and optionally to a webhook.

HOURGLASS_ALERT_WEBHOOK_URL receives a JSON POST (a chat or incident tool's incoming webhook); without it
the sensor only logs. No personal data is in the message: job, run id, failed steps and checks.
"""

import json
import os

import dagster as dg
import requests


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
        "message": context.failure_event.message,
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
        response = requests.post(url, json=report, timeout=10, headers={"Idempotency-Key": report["run_id"]})
        response.raise_for_status()
