"""The weekly KPI digest per team as an asset, its job and its schedule (Monday 08:00 Europe/Amsterdam unless
HOURGLASS_DIGEST_CRON says otherwise). The nightly job leaves it out: it runs on its own schedule."""

import os

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from hourglass import settings
from hourglass.assets.models import effect_models
from hourglass.assets.report import kpi_report
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource

SCORECARD = get_asset_key_for_model([effect_models], "kpi_scorecard")


class DigestError(Exception):
    """Some digests could not be sent: the others went out, and a re-run sends only what is missing."""


@dg.asset(
    group_name="measure",
    deps=[SCORECARD, kpi_report],
    kinds={"email"},
    pool="warehouse",  # reads the DuckDB file: not while dbt writes it
    description="Each team's KPI digest: the scorecard rows it owns, what moved most, a link to the report.",
)
def team_digest(context: dg.AssetExecutionContext, smtp: SmtpResource, outbox: OutboxResource) -> dg.MaterializeResult:
    from hourglass import digest, scorecard

    day = settings.as_of_date()
    digests = digest.build_all(scorecard.read(), digest.load_teams(), day, digest.report_link())
    sender = smtp.sender_for() if smtp.configured() else outbox.sender("digest", digest.CAMPAIGN, day.isoformat())
    counts = digest.send(digests, sender, day)
    context.log.info(f"team digests for {day}: {counts}")
    if counts.get("failed") or counts.get("rejected"):
        raise DigestError(f"team digests for {day}: {counts}; a re-run sends what did not go out")
    return dg.MaterializeResult(
        metadata={
            "teams": dg.MetadataValue.json({d.team.key: len(d.rows) for d in digests}),
            **{f"digests_{name}": n for name, n in sorted(counts.items())},
            "channel": "smtp" if smtp.configured() else "outbox",
        }
    )


team_digest_job = dg.define_asset_job(
    "weekly_team_digest",  # the asset's own name is taken by its op
    selection=dg.AssetSelection.assets(team_digest),
    description="Weekly: each team's KPI digest from the last scorecard the nightly run built.",
)

team_digest_schedule = dg.ScheduleDefinition(
    name="weekly_team_digest_schedule",
    job=team_digest_job,
    cron_schedule=os.environ.get("HOURGLASS_DIGEST_CRON") or "0 8 * * 1",
    execution_timezone=settings.TIMEZONE,
)
