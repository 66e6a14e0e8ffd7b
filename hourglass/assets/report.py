"""The KPI report as an asset: the HTML page for people, the key figures as metadata for the asset page."""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from hourglass.assets.models import dbt_models, effect_models

SOURCES = [
    "kpi_lifecycle_monthly",
    "kpi_customers",
    "kpi_web_daily",
    "kpi_email_monthly",
    "kpi_satisfaction_monthly",
    "customer_360",
    "kpi_social_monthly",
    "campaign_effect",
    "campaign_effect_overall",
    "kpi_scorecard",
]
EFFECT_MODELS = {"campaign_effect", "campaign_effect_overall", "kpi_scorecard"}  # built after activation


@dg.asset(
    group_name="measure",
    deps=[get_asset_key_for_model([effect_models if name in EFFECT_MODELS else dbt_models], name) for name in SOURCES],
    kinds={"html", "plotly"},
    pool="warehouse",  # reads the DuckDB file: not while dbt writes it
    description="A self-contained HTML page: the KPI scorecard against the goals, KPI trends with their goal lines,"
    " segments, the lifecycle, social sentiment, campaign uplift and data quality.",
)
def kpi_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from hourglass import report  # pandas and plotly: imported when the report is built, not at load

    sections = report.collect()
    path = report.write(sections)
    context.log.info(f"KPI report written to {path}")
    by_key = {s.key: s for s in sections}
    figures = dict(by_key["customers"].table.itertuples(index=False, name=None))
    numbers = {
        name: dg.MetadataValue.float(float(figures[name]))
        for name in ("customers", "average_order_value", "email_opt_in_share", "average_predicted_clv")
        if figures.get(name) is not None
    }
    quality = by_key["quality"].table
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            **numbers,  # plotted over runs on the asset page
            "rows_quarantined": int(quality.rows_quarantined.sum()),
            "scorecard": dg.MetadataValue.md(by_key["scorecard"].table.to_markdown(index=False)),
            "campaign_effect": dg.MetadataValue.md(by_key["campaigns"].table.to_markdown(index=False)),
            "segments": dg.MetadataValue.md(by_key["segments"].table.to_markdown(index=False)),
            "data_quality": dg.MetadataValue.md(quality.to_markdown(index=False)),
        }
    )
