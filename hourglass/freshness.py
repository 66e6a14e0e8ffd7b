"""Freshness checks on the sources that feed activation: stale consent or web data shows before it is sent.

A source that has not been loaded for HOURGLASS_FRESHNESS_HOURS (default 26: a nightly load plus slack)
fails its check (a warning on the asset page). A schedule evaluates the checks every half hour, between runs.
"""

from datetime import timedelta

import dagster as dg

from hourglass import settings
from hourglass.ga4 import SOURCE as GA4_SOURCE
from hourglass.sources import CONSENT_SOURCES

# Consent and the web funnel the abandoner journey reads.
ACTIVATION_SOURCES = [*CONSENT_SOURCES, GA4_SOURCE]

freshness_checks = dg.build_last_update_freshness_checks(
    assets=[dg.AssetKey(name) for name in ACTIVATION_SOURCES],
    lower_bound_delta=timedelta(hours=settings.float_setting("HOURGLASS_FRESHNESS_HOURS", 26.0)),
)

freshness_job = dg.define_asset_job(
    "check_freshness",
    selection=dg.AssetSelection.checks(*freshness_checks),
    description="Evaluates the freshness checks of the sources activation reads.",
)

freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job,
    cron_schedule="*/30 * * * *",
    execution_timezone=settings.TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
