"""A source may deliver nothing, on any day: GA4 and the activation receipts too. What reads it gets a zero-row
table with the source's columns, and what loads it says so (docs/sources.md)."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from hourglass import cli, lake, settings
from hourglass.assets.web import ga4_web
from hourglass.ga4 import report
from hourglass.resources.ga4 import Ga4Resource

BIN = Path(sys.executable).parent  # dbt is installed beside this interpreter
AS_OF = "2026-11-20"


def test_without_ga4_the_asset_writes_a_zero_row_table_and_says_so(home, monkeypatch):
    """No property set and no GA4 landing file for the embedded emulator: the night goes on without web data."""
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF)
    result = dg.materialize([ga4_web], resources={"ga4": Ga4Resource()})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = {name: value.value for name, value in event.materialization.metadata.items()}
    assert metadata["delivered_nothing"] and metadata["no_source"] and metadata["rows_loaded"] == 0
    files = lake.raw_glob("ga4_web")
    table = duckdb.sql(f"describe select * exclude (load_date) from read_parquet('{files}')").fetchall()
    assert [(name, kind) for name, kind, *_ in table] == [
        ("date", "DATE"), ("visitor_id", "VARCHAR"), ("session_source_medium", "VARCHAR"), ("page_path", "VARCHAR"),
        ("event_name", "VARCHAR"), ("event_count", "BIGINT"), ("sessions", "BIGINT"), ("engagement_seconds", "DOUBLE"),
    ]  # fmt: skip
    assert lake.row_count(lake.raw_dataset("ga4_web")) == 0
    assert report.loaded_days() == set()  # nothing was fetched: no day counts as loaded


def test_dbt_by_hand_after_prepare_reads_every_source_that_delivered_nothing(home, dbt_manifest, monkeypatch, tmp_path):
    """`hourglass prepare`, then dbt by hand (README), on a home where nothing landed, GA4 has no data and no
    campaign has run: every staging model runs, empty."""
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setattr("hourglass.project.prepare", lambda: None)  # the session parsed the project already
    home.mkdir(parents=True)
    cli.main(["prepare"])
    build = [str(BIN / "dbt"), "build", "--select", "+path:models/staging", "--exclude-resource-type", "test",
             "unit_test", "--no-use-colors",
             "--target-path", str(tmp_path / "target")]  # fmt: skip
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOURGLASS_HOME": str(home), "HOURGLASS_AS_OF_DATE": AS_OF,
           "DBT_PROFILES_DIR": str(settings.DBT_PROJECT_DIR), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}  # fmt: skip
    done = subprocess.run(build, cwd=settings.DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from stg_ga4_web").fetchall() == [(0,)]
        assert con.sql("select count(*) from stg_activation_receipts").fetchall() == [(0,)]
