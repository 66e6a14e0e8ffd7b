"""Privacy from the Dagster UI: the `forget` job (erasure of one person) and the scheduled retention asset."""

import dagster as dg
from pydantic import Field

from hourglass import settings


class ForgetConfig(dg.Config):
    """Exactly one of email, phone, customer_id: the person to forget."""

    email: str = Field(default="", description="An e-mail address of the person, as any source writes it.")
    phone: str = Field(default="", description="A phone number of the person (national numbers are Dutch).")
    customer_id: str = Field(default="", description="The person's CRM id.")
    reason: str = Field(
        default="", description="Why (a request's reference): kept in the audit log, so no personal data."
    )


@dg.op(
    pool="warehouse",  # rewrites the DuckDB file: not while dbt writes it
    description="Forget one person everywhere under HOURGLASS_HOME and suppress them at load (docs/privacy.md).",
)
def forget_person(context: dg.OpExecutionContext, config: ForgetConfig) -> None:
    from hourglass.privacy.forget import forget

    given = {
        k: v for k, v in {"email": config.email, "phone": config.phone, "customer_id": config.customer_id}.items() if v
    }
    if len(given) != 1:
        raise dg.Failure("give exactly one of email, phone, customer_id")
    ((option, value),) = given.items()
    result = forget(option, value, reason=config.reason or None, asked_by=f"dagster run {context.run.run_id}")
    counts = ", ".join(f"{name} {n}" for name, n in result.items() if name != "audit_id")
    context.log.info(f"forgotten ({counts}); audit log entry {result['audit_id']}")


@dg.job(description="Erasure of one person (AVG/GDPR art. 17): launch with the person's e-mail, phone or CRM id.")
def forget():
    forget_person()


def purge_forget_runs(instance: dg.DagsterInstance) -> int:
    """Delete the finished runs of the job `forget` from Dagster's storage: their run config holds the identifier
    they were launched with. How many went."""
    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="forget", statuses=finished))
    for run in runs:
        instance.delete_run(run.run_id)
    return len(runs)


@dg.asset(
    group_name="privacy",
    kinds={"python"},
    description="Removes lake partitions, landing files, quarantine, outbox and receipts older than their retention "
    "period (docs/configuration.md), and the finished runs of the job `forget`; says what it removed.",
)
def privacy_retention(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from hourglass.privacy import retention

    removed = retention.run(asked_by=f"dagster run {context.run.run_id}")
    purged = purge_forget_runs(context.instance)
    context.log.info(
        f"retention removed {removed.counts()['partitions']} partitions, {removed.counts()['files']} files"
    )
    return dg.MaterializeResult(
        metadata={
            **removed.counts(),
            "forget_runs_deleted": purged,
            "removed_partitions": dg.MetadataValue.json(removed.partitions),
            "removed_files": dg.MetadataValue.json(removed.files),
            "periods_days": dg.MetadataValue.json(retention.periods()),
        }
    )


retention_job = dg.define_asset_job(
    "retention", selection=[privacy_retention], description="Daily: remove what is older than its retention period."
)
retention_schedule = dg.ScheduleDefinition(
    job=retention_job, cron_schedule="30 4 * * *", execution_timezone=settings.TIMEZONE
)
