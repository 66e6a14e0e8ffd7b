"""Bottom of the hourglass: one activation asset per audience model, built from the dbt manifest."""

import dagster as dg
import duckdb
from dagster_dbt import get_asset_key_for_model

from hourglass import messages, settings
from hourglass.assets.models import dbt_models
from hourglass.campaigns import Campaign, audience_nodes
from hourglass.project import manifest
from hourglass.resources.outbox import OutboxResource


def read_audience(model_name: str) -> list[dict]:
    path = settings.audience_export(model_name)
    if not path.exists():
        raise FileNotFoundError(f"audience export {path} is missing: materialise the dbt model {model_name} first")
    with duckdb.connect() as con:
        cursor = con.execute(f"select * from read_parquet('{path}') order by customer_key")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=False)) for values in cursor.fetchall()]


def build_activation_asset(campaign: Campaign) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["activation", campaign.name]),
        group_name="activate",
        deps=[get_asset_key_for_model([dbt_models], campaign.name)],
        description=f"Sends campaign {campaign.name} ({', '.join(campaign.channels)}). {campaign.description}",
        kinds={"python"},
        metadata={
            "channels": list(campaign.channels),
            "priority": campaign.priority,
            "holdout_share": campaign.holdout_share,
            "template": campaign.template,
        },
    )
    def _activate(context: dg.AssetExecutionContext, outbox: OutboxResource) -> dg.MaterializeResult:
        rows = read_audience(campaign.name)
        send_window = settings.as_of_date().isoformat()
        sent = {}
        for channel in campaign.channels:
            built = messages.build_messages(campaign.name, campaign.template, channel, send_window, rows)
            path, count = outbox.deliver(channel, campaign.name, send_window, built)
            sent[channel] = count
            context.log.info(f"{campaign.name}: {count} {channel} message(s) written to {path}")
        # Counts only: personal data stays out of Dagster's metadata.
        return dg.MaterializeResult(
            metadata={
                "audience_size": len(rows),
                "send_window": send_window,
                **{f"messages_{channel}": n for channel, n in sent.items()},
            }
        )

    return _activate


def build_activation_assets() -> list[dg.AssetsDefinition]:
    return [build_activation_asset(Campaign.from_manifest_node(node)) for node in audience_nodes(manifest())]
