"""The schedules as a scheduler sees them: the nightly hourglass and the hourly abandoner journey."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg


def test_nightly_and_hourly_journey_schedules_target_their_jobs(dbt_manifest):
    from hourglass.definitions import defs

    amsterdam = ZoneInfo("Europe/Amsterdam")
    nightly = defs.resolve_schedule_def("nightly_schedule")
    hourly = defs.resolve_schedule_def("abandoner_journey_schedule")
    assert (nightly.cron_schedule, nightly.execution_timezone) == ("0 2 * * *", "Europe/Amsterdam")
    assert hourly.cron_schedule == "15 * * * *"

    # Just after midnight in Amsterdam (23:15 UTC the day before), both act for the Amsterdam day.
    start = datetime(2026, 11, 22, 0, 15, tzinfo=amsterdam)
    with dg.build_schedule_context(scheduled_execution_time=start, repository_def=defs.get_repository_def()) as context:
        request = hourly.evaluate_tick(context).run_requests[0]
    assert hourly.job_name == "abandoner_journey" and request.job_name in (None, "abandoner_journey")
    assert request.partition_key == "2026-11-22"
    at_two = datetime(2026, 11, 22, 2, 0, tzinfo=amsterdam)
    with dg.build_schedule_context(scheduled_execution_time=at_two, repository_def=defs.get_repository_def()) as ctx:
        (nightly_request,) = nightly.evaluate_tick(ctx).run_requests
    assert nightly_request.partition_key == "2026-11-22"  # today: the nightly run acts for the day it runs

    journey = defs.resolve_job_def("abandoner_journey").asset_layer.selected_asset_keys
    names = {key.to_user_string() for key in journey}
    assert {"ga4_web", "workshop_signup_abandoners", "activation/workshop_signup_abandoners"} <= names
    assert not names & {"crm_customers", "erp_orders", "activation/winback_lapsed"}  # nightly only
