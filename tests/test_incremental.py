"""Incremental daily models: nightly runs that each add a few days end where a full refresh ends."""

from datetime import timedelta

import pandas as pd
import pytest
from conftest import AS_OF
from dagster_dbt import DbtCliResource
from test_middle import Warehouse

from hourglass.project import dbt_project

DAILY = {"int_esp_events_daily": ["event_date", "subscriber_id"], "int_ga4_web_daily": ["visit_date", "visitor_id"]}


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
        for day in (AS_OF - timedelta(days=6), AS_OF - timedelta(days=3), AS_OF):  # three nightly runs
            build(day)
        incremental = snapshot(wh)
        build(AS_OF, "--full-refresh")
        full = snapshot(wh)

    for name, keys in DAILY.items():
        assert len(incremental[name]) > len(before[name]), f"{name}: the nightly runs added nothing"
        date_column = keys[0]
        assert pd.to_datetime(before[name][date_column]).max() <= pd.Timestamp(AS_OF - timedelta(days=9))
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False)
