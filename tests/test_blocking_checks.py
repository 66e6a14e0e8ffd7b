"""A failing dbt test on an audience stops that campaign's send, and only that one: nothing is sent from data
that broke its contract, and the campaigns whose audiences passed go out. A bad value in a shared column is
mapped where it enters, so it fails no campaign at all."""

import os
import subprocess
import sys

import dagster as dg
import duckdb
import pytest
from conftest import AS_OF, _ts, write_landing

from hourglass import settings
from hourglass.alerts import run_failure_alert
from hourglass.campaigns import audience_nodes
from hourglass.project import manifest
from hourglass.sample.channel_servers import LoopbackHttp

WELCOME = "welcome_new_members"
ROWS = [
    # Spanish is a language, but not one welcome_new_members' test accepts (its templates' languages).
    {"customer_id": "X1", "first_name": "Sol", "email": "sol@example.es", "language": "es",
     "created_at": _ts(2), "updated_at": _ts(2), "consent_email_marketing": "true"},
    # Not a language at all: staged as the default, so no campaign's test sees it.
    {"customer_id": "X2", "first_name": "Xan", "email": "xan@example.nl", "language": "xx",
     "created_at": _ts(2), "updated_at": _ts(2), "consent_email_marketing": "true"},
    # A line break in a name never survives staging: a name reaches e-mail subjects.
    {"customer_id": "X3", "first_name": "Jan\r\nBcc: evil@example.com", "last_name": "de\u2028Vries\t",
     "email": "jan3@example.nl", "language": " EN ", "created_at": _ts(2), "updated_at": _ts(2),
     "consent_email_marketing": "true"},
]  # fmt: skip


def test_failed_audience_test_blocks_its_own_activation_only(tmp_path, dbt_manifest):
    home = tmp_path / "home"
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        mp.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
        from hourglass.definitions import defs
        from hourglass.sample.generator import generate

        generate(out=home / "landing", customers=150, seed=3, as_of=AS_OF)
        write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_broken.csv", ROWS)
        result = defs.resolve_job_def("nightly").execute_in_process(
            instance=instance, raise_on_error=False, partition_key=AS_OF.isoformat()
        )

        assert not result.success
        failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
        assert any(name.startswith(f"accepted_values_{WELCOME}_language") for name in failed)
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        others = {f"activation/{node['name']}" for node in audience_nodes(manifest())} - {f"activation/{WELCOME}"}
        assert others <= materialized  # every other campaign went out
        assert f"activation/{WELCOME}" not in materialized
        assert not (home / "outbox" / "email" / WELCOME).exists()
        assert (home / "outbox" / "email").exists()

        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            staged = dict(
                (r[0], r[1:])
                for r in con.sql(
                    "select customer_id, first_name, last_name, language from stg_crm_customers"
                    " where customer_id in ('X1', 'X2', 'X3')"
                ).fetchall()
            )
    assert staged["X1"][2] == "es" and staged["X2"][2] == "nl" and staged["X3"][2] == "en"

    # The command line stops the same way: it reads the same checks from the same Dagster instance.
    env = {**os.environ, "HOURGLASS_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster")}
    cli = subprocess.run(
        [sys.executable, "-m", "hourglass.cli", "activate", WELCOME], env=env, capture_output=True, text=True
    )
    assert cli.returncode != 0 and f"accepted_values_{WELCOME}_language" in cli.stderr
    assert not (home / "outbox" / "email" / WELCOME).exists()
    assert staged["X3"][:2] == ("Jan Bcc: evil@example.com", "de Vries")

    # The failure sensor reports the run with its failed step and check, to the log and a webhook.
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
    assert [step for step in report["failed_steps"]] == [f"activation__{WELCOME}"]
    assert any(f"accepted_values_{WELCOME}_language" in c for c in report["failed_blocking_checks"])
