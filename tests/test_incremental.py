"""Incremental daily models: nightly runs that each add a few days end where a full refresh ends."""

from datetime import timedelta

import pandas as pd
import pytest
from conftest import AS_OF
from dagster_dbt import DbtCliResource
from test_middle import Warehouse

from hourglass.project import dbt_project

# Each incremental model with the day it is incremental on.
DAILY = {
    "stg_esp_events": "event_date",
    "stg_ga4_web": "visit_date",
    "stg_erp_order_lines": "cast(updated_at as date)",
    "int_esp_events_daily": "event_date",
    "int_ga4_web_daily": "visit_date",
}


def build(day, *extra: str) -> None:
    dbt = DbtCliResource(project_dir=dbt_project)
    args = ["build", "--select", " ".join(DAILY), "--vars", f'{{"as_of_date": "{day}"}}', *extra]
    dbt.cli(args, raise_on_error=True).wait()


def snapshot(wh: Warehouse) -> dict[str, pd.DataFrame]:
    return {name: wh.df(f"select * from {name} order by all").reset_index(drop=True) for name in DAILY}


def test_nightly_increments_equal_a_full_refresh(pipeline):
    home, _ = pipeline
    wh = Warehouse(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        build(AS_OF - timedelta(days=9), "--full-refresh")  # the history as it stood nine days ago
        before = snapshot(wh)
        before_last_day = {name: wh.one(f"select max({day}) from {name}")[0] for name, day in DAILY.items()}
        for day in (AS_OF - timedelta(days=6), AS_OF - timedelta(days=3), AS_OF):  # three nightly runs
            build(day)
        incremental = snapshot(wh)
        build(AS_OF, "--full-refresh")
        full = snapshot(wh)

    for name in DAILY:
        assert len(incremental[name]) > len(before[name]), f"{name}: the nightly runs added nothing"
        assert before_last_day[name] <= AS_OF - timedelta(days=9), name
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False)
