"""GA4 web behaviour -> the lake, one partition per day, through the official Data API client."""

from datetime import timedelta

import dagster as dg

from hourglass import settings
from hourglass.assets.ingest import column_schema, lake_rows
from hourglass.freshness import freshness_policy
from hourglass.ga4 import SOURCE
from hourglass.resources.ga4 import Ga4Resource
from hourglass.sources import CONTRACTS


@dg.asset(
    name=SOURCE,
    group_name="ingest",
    kinds={"parquet"},
    metadata=column_schema(CONTRACTS[SOURCE]),
    freshness_policy=freshness_policy(SOURCE),
    description=(
        "Google Analytics 4 rows per day, visitor (customUser:hg_visitor_id), source/medium, page and event. "
        "Fetches every missing day and the last few again, since GA4 data settles late; a day without rows is "
        "fetched again until a later run confirms it. Without GA4, a zero-row table."
    ),
)
def ga4_web(context: dg.AssetExecutionContext, ga4: Ga4Resource) -> dg.MaterializeResult:
    end = settings.as_of_date()
    start = end - timedelta(days=ga4.backfill_days)
    from hourglass.ga4 import report  # the gRPC client: imported when the asset runs, not at load

    if not ga4.has_source():
        report.ensure_not_missing(end)
        context.log.warning("GA4: no property set and no landing file for the embedded emulator; nothing fetched")
        return dg.MaterializeResult(
            metadata={
                **lake_rows(SOURCE),
                **{"rows_loaded": 0, "days_fetched": 0, "delivered_nothing": True, "no_source": True},
            }
        )
    with ga4.connect() as conn:
        result = report.load(
            conn.client, conn.property_id, start, end, ga4.refetch_days, ga4.page_size, conn.policy, ga4.timeout_seconds
        )
    fetched = [d for d in result.days if d.rows]
    empty = [d for d in result.days if not d.rows]
    context.log.info(f"GA4: {result.rows} rows over {len(result.days)} day(s) in {result.requests} request(s)")
    recent = sorted(result.days, key=lambda d: d.day)[-7:]
    table = "| day | rows | thresholded | loss into (other) |\n|---|---|---|---|\n" + "\n".join(
        f"| {d.day} | {d.rows} | {d.subject_to_thresholding} | {d.data_loss_from_other_row} |" for d in recent
    )
    last = result.days[-1] if result.days else None
    return dg.MaterializeResult(
        metadata={
            **lake_rows(SOURCE),
            "rows_loaded": result.rows,
            "rows_erased": result.erased,  # forgotten people's rows, left out (docs/privacy.md)
            "days_fetched": len(result.days),
            "days_with_rows": len(fetched),
            "days_empty": len(empty),  # written as zero-row partitions
            "days_empty_unconfirmed": sum(not d.empty_confirmed for d in empty),  # fetched again next run
            "delivered_nothing": result.rows == 0,
            "requests": result.requests,
            "days_thresholded": sum(d.subject_to_thresholding for d in result.days),
            "days_with_loss_into_other": sum(d.data_loss_from_other_row for d in result.days),
            "tokens_per_day_remaining": last.tokens_per_day_remaining if last else None,
            "tokens_per_hour_remaining": last.tokens_per_hour_remaining if last else None,
            "embedded_emulator": conn.embedded,
            "recent_days": dg.MetadataValue.md(table),
        }
    )
