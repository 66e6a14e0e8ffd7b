"""Run config on the dbt steps, as an analyst gives it in the launchpad (docs/model.md): a full refresh and a
one-off var reach `dbt build` of a launched run, and the var changes what the model holds for that run only."""

import json

import dagster as dg
import duckdb
import pytest
from conftest import AS_OF

from hourglass import settings

pytestmark = pytest.mark.slow

WELCOME = dg.AssetKey("welcome_new_members")


def _launch(run_config: dict) -> tuple[dg.DagsterRun, dict]:
    """The welcome audience's dbt step as a run launched on the instance in DAGSTER_HOME, and the arguments dbt
    recorded for it (run_results.json in the step's own target folder)."""
    from hourglass.definitions import nightly

    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(
            dg.reconstructable(nightly), instance, run_config=run_config, asset_selection=[WELCOME],
            tags={"dagster/partition": AS_OF.isoformat()},
        ) as result:  # fmt: skip
            assert result.success
            run = result.dagster_run
    (results,) = (settings.DBT_PROJECT_DIR / "target").glob(f"dbt_models-{run.run_id[:7]}-*/run_results.json")
    return run, json.loads(results.read_text())["args"]


def _audience_size(home) -> int:
    with duckdb.connect() as con:
        return con.execute(f"select count(*) from '{home}/lake/audiences/welcome_new_members.parquet'").fetchone()[0]


def test_full_refresh_and_a_one_off_var_reach_dbt_from_a_launched_run(pipeline_copy, monkeypatch):
    home, _ = pipeline_copy
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
    monkeypatch.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    settings.dagster_home()
    nightly_size = _audience_size(home)

    config = {"ops": {"dbt_models": {"config": {"full_refresh": True, "vars": {"welcome_window_days": 1}}}}}
    _, args = _launch(config)
    assert args["full_refresh"] is True
    assert args["vars"] == {"welcome_window_days": 1}
    one_day = _audience_size(home)
    assert one_day < nightly_size  # a day's new members, not the 30 days dbt_project.yml gives

    _, args = _launch({})  # the next run: dbt_project.yml's window again
    assert not args.get("full_refresh") and not args.get("vars")
    assert _audience_size(home) == nightly_size
