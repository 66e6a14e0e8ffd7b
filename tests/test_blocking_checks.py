"""A failing dbt test on an audience stops activation: nothing is sent from data that broke its contract."""

import dagster as dg
import pytest
from conftest import AS_OF, _ts, write_landing

from hourglass.alerts import run_failure_alert
from hourglass.channels.emulators import LoopbackHttp

BROKEN = {
    "customer_id": "X1", "first_name": "Sol", "email": "sol@example.es", "language": "es",  # no Spanish template,
    "created_at": _ts(2), "updated_at": _ts(2), "consent_email_marketing": "true",  # not an accepted value
}  # fmt: skip


def test_failed_audience_test_blocks_its_activation(tmp_path, dbt_manifest):
    home = tmp_path / "home"
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        from hourglass.definitions import defs
        from hourglass.generator import generate

        generate(out=home / "landing", customers=150, seed=3, as_of=AS_OF)
        write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_broken.csv", [BROKEN])
        result = defs.resolve_job_def("nightly").execute_in_process(
            instance=instance, raise_on_error=False, partition_key=AS_OF.isoformat()
        )

    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert any(name.startswith("accepted_values_welcome_new_members_language") for name in failed)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "crm_customers" in materialized  # the top ran
    assert not any(key.startswith("activation/") for key in materialized)
    assert not (home / "outbox").exists()

    # The failure sensor reports the run with its failed step and blocking check, to the log and a webhook.
    with LoopbackHttp() as hook, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_ALERT_WEBHOOK_URL", hook.url)
        events = [r.event_log_entry.dagster_event for r in instance.get_records_for_run(result.run_id).records]
        failure = next(e for e in events if e is not None and e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure,
        ).for_run_failure()  # fmt: skip
        run_failure_alert(context)
        (report,) = hook.state.applied.values()
    assert report["job"] == "nightly" and report["run_id"] == result.run_id
    assert "dbt_models" in report["failed_steps"]
    assert any("accepted_values_welcome_new_members_language" in c for c in report["failed_blocking_checks"])
