"""The Dagster UI as a new user meets it: `dg dev` on the project, driven in Debian's Chromium.

It opens the asset graph, finds the groups ingest -> model -> activate in that order, materialises one
asset from its page and sees the materialisation land, reads a source's row count and freshness and a model's
row count and column types from their pages, and (`make soak`) backfills a date range of a
daily-partitioned model from its page, which the daemon runs as one run.
"""

import os
import re
import shutil
import subprocess
import time

import dagster as dg
import duckdb
import pytest
from conftest import AS_OF
from dagster_dev import BIN, dg_dev, dg_environment, free_port, started
from playwright.sync_api import sync_playwright

from hourglass import settings
from hourglass.sources import CONTRACTS

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory, dbt_manifest):
    home = tmp_path_factory.mktemp("ui") / "home"
    env = {
        **os.environ,
        "HOURGLASS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HOURGLASS_AS_OF_DATE": AS_OF.isoformat(),
        "HOURGLASS_LANDING_SENSOR": "stopped",  # no runs of its own while the test drives the UI
    }
    subprocess.run([BIN / "hourglass", "generate", "--customers", "150", "--seed", "5"], env=env, check=True)
    port = free_port()
    # What `make dev` runs (prepare, then dg dev), on a free port.
    subprocess.run([BIN / "hourglass", "prepare"], env=env, check=True, capture_output=True)
    # The e-mail and web events in the lake and the event models built for one day: what a backfill builds on.
    events = "esp_events,ga4_web,stg_esp_events,stg_ga4_web,int_esp_events_daily,int_ga4_web_daily"
    command = [BIN / "dagster", "asset", "materialize", "-m", "hourglass.definitions", "--select", events,
               "--partition", AS_OF.isoformat()]  # fmt: skip
    subprocess.run(command, env=env, cwd=settings.PROJECT_ROOT, check=True, capture_output=True)
    with started(dg_dev(port), dg_environment(env), port, home.parent / "dagster.log") as url:
        yield url, home


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, url: str):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    skip = page.get_by_role("button", name="Skip")  # the first-visit community dialog
    if skip.count():
        skip.click()
    return page, errors


def test_the_asset_graph_shows_ingest_then_model_then_activate(dagster_ui, browser):
    url, _ = dagster_ui
    page, errors = _page(browser, f"{url}/asset-groups")
    graph_x = {}
    for group in ("ingest", "model", "activate"):
        page.locator(f"text='{group}'").first.wait_for()
        boxes = [
            page.locator(f"text='{group}'").nth(i).bounding_box()
            for i in range(page.locator(f"text='{group}'").count())
        ]
        # The sidebar lists the groups too; the graph's node is the one right of the sidebar.
        graph_x[group] = max(box["x"] for box in boxes if box)
    assert graph_x["ingest"] < graph_x["model"] < graph_x["activate"]
    assert not errors


def test_materialising_an_asset_from_the_ui_succeeds(dagster_ui, browser):
    url, home = dagster_ui
    page, errors = _page(browser, f"{url}/assets/subscriptions")
    assert "Never materialized" in page.inner_text("body")
    page.locator("button:has-text('Materialize')").first.click()

    deadline = time.monotonic() + 180
    while "rows_loaded" not in page.inner_text("body"):  # the materialisation's metadata on the asset page
        assert time.monotonic() < deadline, "the materialisation did not appear within 3 minutes"
        page.wait_for_timeout(2000)
        page.reload(wait_until="networkidle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.DagsterInstance.get() as instance:
            run_id = instance.get_latest_materialization_event(dg.AssetKey("subscriptions")).run_id
            while not instance.get_run_by_id(run_id).is_finished:
                assert time.monotonic() < deadline, "the run did not finish within 3 minutes"
                time.sleep(1)
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    assert not errors


# Soak: test_partitions backfills a range as one run from the command line; this is the UI's dialog and daemon.
@pytest.mark.soak
def test_a_date_range_backfilled_from_the_ui_runs_once_and_succeeds(dagster_ui, browser):
    url, home = dagster_ui
    page, errors = _page(browser, f"{url}/assets/int_esp_events_daily")
    page.locator("button:has-text('Materialize')").first.click()
    confirm = page.get_by_role("button", name="Confirm")  # asked only when an upstream partition is missing
    page.wait_for_timeout(1000)
    if confirm.count():
        confirm.click()
    box = page.get_by_placeholder("No matching partitions")  # the partition selection of the launch dialog
    box.fill("[2026-11-06...2026-11-12]")
    box.press("Enter")
    page.get_by_text("7 partitions").wait_for()
    page.get_by_role("button", name="Launch backfill").click()

    deadline = time.monotonic() + 240
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        with dg.DagsterInstance.get() as instance:
            while not instance.get_backfills() or not instance.get_backfills()[0].status.name.startswith("COMPLETED"):
                assert time.monotonic() < deadline, "the backfill did not complete within 4 minutes"
                time.sleep(2)
            backfill = instance.get_backfills()[0]
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    assert backfill.status.name == "COMPLETED_SUCCESS"
    (run,) = runs  # BackfillPolicy.single_run: the whole range in one dbt run
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
        "2026-11-06",
        "2026-11-12",
    )
    assert not errors


def test_asset_pages_show_row_counts_column_types_and_freshness(dagster_ui, browser):
    """A source's page: its row count (the lake's rows), its freshness policy passing, as the daemon evaluated
    it, and its columns with the contract's types, on one page (kept as a screenshot beside the test's home);
    a dbt model's page: its row count and its columns with the warehouse's types."""
    url, home = dagster_ui
    page, errors = _page(browser, f"{url}/assets/esp_events")
    deadline = time.monotonic() + 180
    while not re.search(r"Freshness policy\s+Passing", page.inner_text("body")):  # evaluated every 30 seconds
        assert time.monotonic() < deadline, "the freshness policy did not show as passing within 3 minutes"
        page.wait_for_timeout(3000)
        page.reload(wait_until="networkidle")
    page.get_by_text("Column name").wait_for()
    page.screenshot(path=home.parent / "esp_events.png", full_page=True)
    body = page.inner_text("body")
    with duckdb.connect() as con:
        lake_rows = con.execute(f"select count(*) from '{home}/lake/raw/esp_events/*/*.parquet'").fetchone()[0]
    assert re.search(r"Row count\s+([\d,]+)", body).group(1) == f"{lake_rows:,}"
    contract = CONTRACTS["esp_events"].columns
    shown = dict(re.findall(r"^(\w+)\n\s*\n(varchar|bigint|timestamp|date|boolean|decimal\(18, 2\))$", body, re.M))
    assert {c.name: shown.get(c.name) for c in contract} == {c.name: c.sql_type for c in contract}
    assert len(set(shown.values())) > 1, "the columns' types differ: the page must show more than one"

    page, more_errors = _page(browser, f"{url}/assets/int_esp_events_daily")
    page.get_by_text("Column name").wait_for()
    body = page.inner_text("body")
    assert int(re.search(r"Row count\s+([\d,]+)", body).group(1).replace(",", "")) > 0
    columns = dict(re.findall(r"^(\w+)\n\s*\n(DATE|BIGINT|TIMESTAMP|character varying\(256\))$", body, re.M))
    assert columns["event_date"] == "DATE" and columns["sends"] == "BIGINT"
    assert not errors and not more_errors
