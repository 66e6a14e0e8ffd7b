"""Bottom of the hourglass: one activation asset per audience model, built from the dbt manifest."""

import dagster as dg
from dagster_dbt import get_asset_key_for_model
from pydantic import Field

from hourglass.assets.models import dbt_models, run_as_of
from hourglass.campaigns import Campaign, audience_nodes
from hourglass.channels.ads import AdAudienceResource
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource
from hourglass.project import manifest
from hourglass.sources import CONSENT_SOURCES

# Send-time consent is read from these sources in the lake, so they are upstream of every campaign.
CONSENT_ASSETS = [dg.AssetKey(source) for source in CONSENT_SOURCES]


def audience_checks(campaign: str) -> list[dg.AssetCheckKey]:
    audience = get_asset_key_for_model([dbt_models], campaign)
    return [spec.key for spec in dbt_models.check_specs if spec.asset_key == audience]


def failed_audience_checks(instance: dg.DagsterInstance, checks: list[dg.AssetCheckKey]) -> list[str]:
    """The audience's dbt tests (error severity) whose latest result failed: its data broke a contract."""
    failed = []
    for key in checks:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if evaluation is not None and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(key.name)
    return failed


class ActivationConfig(dg.Config):
    approve_audience_change: bool = Field(
        default=False,
        description="Send even though the audience grew or shrank beyond the campaign's guard_max_change.",
    )


def build_activation_asset(campaign: Campaign, campaigns: list[Campaign]) -> dg.AssetsDefinition:
    checks = audience_checks(campaign.name)

    @dg.asset(
        key=dg.AssetKey(["activation", campaign.name]),
        group_name="activate",
        deps=[get_asset_key_for_model([dbt_models], campaign.name), *CONSENT_ASSETS],
        description=f"Sends campaign {campaign.name} ({', '.join(campaign.channels)}). {campaign.description}",
        kinds={"python"},
        pool="ledger_" + campaign.name,  # one send of a campaign at a time; campaigns run side by side
        metadata={
            "channels": list(campaign.channels),
            "priority": campaign.priority,
            "holdout_share": campaign.holdout_share,
            "cooldown_days": campaign.cooldown_days,
            "quiet_hours": campaign.quiet_hours or "none",
            "guard_max_change": campaign.guard_max_change,
            "template": campaign.template,
        },
    )
    def _activate(
        context: dg.AssetExecutionContext,
        config: ActivationConfig,
        outbox: OutboxResource,
        smtp: SmtpResource,
        sms: SmsResource,
        webhook: WebhookResource,
        ad_audiences: AdAudienceResource,
    ) -> dg.MaterializeResult:
        def observe(plan: dict) -> None:
            # The plan is on record before anything is sent, also when the guard then stops the send.
            context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata=plan))

        failed = failed_audience_checks(context.instance, checks)
        if failed:  # only this campaign stops; the others, whose audiences passed, send
            raise dg.Failure(
                description=f"{campaign.name}: nothing was sent, its audience failed dbt tests: {', '.join(failed)}."
                " Fix the data or the model, then materialise the audience and this asset again.",
                allow_retries=False,
            )

        from hourglass import activation  # pyarrow, DuckDB, Jinja: imported when a campaign runs, not at load

        try:
            result = activation.run_campaign(
                campaign,
                campaigns,
                activation.Channels(outbox=outbox, smtp=smtp, sms=sms, webhook=webhook, ad_audiences=ad_audiences),
                run_id=context.run.run_id,
                approve_audience_change=config.approve_audience_change,
                window=run_as_of(context),
                observe=observe,
                log=context.log.warning,
            )
        except (activation.GuardError, activation.ActivationError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        # Counts only: personal data stays out of Dagster's metadata.
        return dg.MaterializeResult(metadata=result)

    return _activate


def build_activation_assets() -> list[dg.AssetsDefinition]:
    campaigns = [Campaign.from_manifest_node(node) for node in audience_nodes(manifest())]
    return [build_activation_asset(campaign, campaigns) for campaign in campaigns]
