"""Everything Dagster knows about hourglass, assembled in one place."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

import dagster as dg

from hourglass import settings
from hourglass.alerts import run_failure_alert
from hourglass.assets.activation import build_activation_assets
from hourglass.assets.digest import team_digest, team_digest_job, team_digest_schedule
from hourglass.assets.goals import goals_met
from hourglass.assets.ingest import ingest_assets
from hourglass.assets.models import effect_models, middle_models
from hourglass.assets.privacy import forget, privacy_retention, retention_job, retention_schedule
from hourglass.assets.report import kpi_report
from hourglass.assets.steps import step_assets
from hourglass.assets.web import ga4_web
from hourglass.project import DbtCli, dbt_project
from hourglass.resources.channels import channel_resources
from hourglass.resources.ga4 import Ga4Resource
from hourglass.sensors import landing_files_sensor

settings.home()  # export the absolute HOURGLASS_HOME before dbt or any asset reads it

activation_assets = build_activation_assets()

# Both jobs take the event models' daily partitions (Dagster infers them): a run's partition is its day.
nightly_job = dg.define_asset_job(
    "nightly",
    # retention and the team digest run on their own schedules
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("privacy") - dg.AssetSelection.assets(team_digest),
    description="The whole hourglass: ingest every source, build the dbt middle, activate every campaign.",
)

# The abandoner journey, hourly on fresh web data: GA4, the dbt models between it and the audience, the send.
# The other sources keep their nightly load; consent is still read from the lake at send time.
abandoner_key = dg.AssetKey(["activation", "workshop_signup_abandoners"])
abandoner_job = dg.define_asset_job(
    "abandoner_journey",
    selection=(
        (dg.AssetSelection.assets(abandoner_key).upstream() - dg.AssetSelection.groups("ingest"))
        | dg.AssetSelection.assets("ga4_web")
    ).required_multi_asset_neighbors(),  # the CLV step makes its fits and predictions together
    description="Hourly: fresh GA4 data -> workshop_signup_abandoners -> its reminder.",
)


@dg.schedule(job=abandoner_job, cron_schedule="15 * * * *", execution_timezone=settings.TIMEZONE)
def abandoner_journey_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every hour, for today's partition: the journey acts on the day it runs."""
    day = context.scheduled_execution_time.astimezone(ZoneInfo(settings.TIMEZONE)).date().isoformat()
    return dg.RunRequest(partition_key=day)


defs = dg.Definitions(
    assets=[
        *ingest_assets,
        ga4_web,
        *middle_models,
        *step_assets,
        *activation_assets,
        effect_models,
        kpi_report,
        team_digest,
        privacy_retention,
    ],
    asset_checks=[goals_met],
    jobs=[nightly_job, abandoner_job, forget, retention_job, team_digest_job],
    schedules=[
        # 02:00 for the latest partition, which is today (end_offset=1)
        dg.build_schedule_from_partitioned_job(nightly_job, hour_of_day=2, minute_of_hour=0),
        abandoner_journey_schedule,
        retention_schedule,
        team_digest_schedule,
    ],
    sensors=[landing_files_sensor, run_failure_alert],
    resources={
        "dbt": DbtCli(project_dir=dbt_project),
        **channel_resources(),
        "ga4": Ga4Resource(
            property_id=os.environ.get("HOURGLASS_GA4_PROPERTY_ID", ""),
            endpoint=os.environ.get("HOURGLASS_GA4_ENDPOINT", ""),
            credentials_file=(
                dg.EnvVar("GOOGLE_APPLICATION_CREDENTIALS") if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") else ""
            ),
        ),
    },
)


def nightly() -> dg.JobDefinition:
    """The nightly job by import path, for `dg.reconstructable` (the multiprocess executor outside the UI)."""
    return defs.resolve_job_def("nightly")
