"""The landing sensor asks for exactly the sources whose files changed."""

import os

import dagster as dg
from conftest import write_landing

from hourglass.sensors import landing_files_sensor

ROW = {"customer_id": "C1", "created_at": "2026-01-05T10:00:00", "updated_at": "2026-01-05T10:00:00"}


def evaluate(cursor):
    result = landing_files_sensor(dg.build_sensor_context(cursor=cursor))
    return sorted(r.asset_selection[0].to_user_string() for r in result.run_requests), result.cursor


def test_new_and_changed_files_start_their_source_once(home):
    assert evaluate(None) == ([], "{}")

    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [ROW])
    requested, cursor = evaluate(None)
    assert requested == ["crm_customers"]
    assert evaluate(cursor)[0] == []  # nothing new: no run

    write_landing(home, "leads", "leads_2026-11-20.csv", [{"lead_id": "L1", "created_at": "2026-11-20T10:00:00"}])
    requested, cursor = evaluate(cursor)
    assert requested == ["leads"]

    path = write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [ROW, ROW | {"customer_id": "C2"}])
    os.utime(path, ns=(1, 1))  # a rewrite shows as a new size/mtime
    assert evaluate(cursor)[0] == ["crm_customers"]


def test_the_run_key_changes_with_the_files(home):
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [ROW])
    first = landing_files_sensor(dg.build_sensor_context()).run_requests[0].run_key
    write_landing(home, "crm_customers", "crm_customers_2026-11-21.csv", [ROW])
    second = landing_files_sensor(dg.build_sensor_context()).run_requests[0].run_key
    assert first.startswith("crm_customers:") and first != second
