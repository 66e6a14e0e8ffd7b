"""The narrow middle: every dbt model, seed and test as Dagster assets and checks.

dbt asset definitions over one project:
- `event_models`: the incremental, event-sized models (tag `daily`: event staging and what is counted per day
  or month from it), partitioned by day, so a date range can be backfilled from the UI or the CLI in one run
  (`--partition-range A...B`);
- everything else up to the audiences, in three parts around the Python steps outside dbt (assets/steps.py):
  `models_before_steps`, then the identity step, `identified_models`, then the CLV step, `dbt_models`;
- `effect_models` (tag `effect`): what reads the activation receipts (campaign effects, the KPI scorecard
  and its goals seed) and so runs after the sends. One definition could not do both: a run cannot come back
  to the same step after activation.
"""

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)

from hourglass import handoffs, settings
from hourglass.campaigns import audience_nodes
from hourglass.freshness import activation_input_policy
from hourglass.project import dbt_project, manifest

RECEIPTS_MODEL = "model.hourglass.stg_activation_receipts"
# The incremental models (tag `daily`), the only ones: they read only sources or each other, so no other dbt step
# sits between them (a run would otherwise split dbt_models around them and test models of the later half before
# they are built). Everything per customer is a table or view rebuilt from them in `dbt_models`.
EVENT_MODELS = "tag:daily"
# What the Python steps write, read back as sources: the models downstream of each run after that step.
AFTER_IDENTITY, AFTER_CLV = handoffs.AFTER_IDENTITY, handoffs.AFTER_CLV

# Days in Europe/Amsterdam from HOURGLASS_HISTORY_START; end_offset=1 makes today a partition, so the nightly
# run acts for the day it runs.
daily = dg.DailyPartitionsDefinition(
    start_date=settings.history_start().isoformat(), timezone=settings.TIMEZONE, end_offset=1
)


def run_as_of(context: dg.AssetExecutionContext) -> date:
    """The day a run acts for: its partition when it has one (any asset in a partitioned run), else the setting."""
    key = context.run.tags.get("dagster/partition")
    return date.fromisoformat(key) if key else settings.as_of_date()


class HourglassTranslator(DagsterDbtTranslator):
    """dbt nodes sit in the `model` group, between `ingest` and `activate`; effect models in `measure`."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "measure" if "effect" in dbt_resource_props.get("tags", []) else "model"

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id == RECEIPTS_MODEL:  # the receipts come from every campaign's send
            campaigns = [dg.AssetKey(["activation", node["name"]]) for node in audience_nodes(manifest)]
            return spec.replace_attributes(deps=campaigns)
        if any(node["unique_id"] == unique_id for node in audience_nodes(manifest)):  # a campaign sends it
            return spec.replace_attributes(freshness_policy=activation_input_policy())
        return spec

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or not spec.blocking or not self.is_audience(manifest, spec.asset_key):
            return spec
        # A failed test on one audience stops that campaign's send (its activation asset reads the check), not
        # the dbt step: a blocking check would fail the step and skip every campaign.
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            metadata={**(spec.metadata or {}), "blocks": f"activation/{spec.asset_key.path[-1]}"},
            blocking=False,
        )

    def is_audience(self, manifest: Mapping[str, Any], key: dg.AssetKey) -> bool:
        return any(self.get_asset_key(node) == key for node in audience_nodes(manifest))


# Code references: each dbt asset links to its model's file.
translator = HourglassTranslator(settings=DagsterDbtTranslatorSettings(enable_code_references=True))


class DbtBuildConfig(dg.Config):
    """Run config of every dbt step: the two `dbt build` options an analyst reaches for (docs/model.md)."""

    full_refresh: bool = False  # --full-refresh: the incremental models rebuilt from scratch
    vars: dict[str, Any] = {}  # --vars for this run only, over dbt_project.yml's


class DbtBuildError(Exception):
    """A dbt model or test could not run (not a test that found bad rows): nothing downstream may use it."""


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    day: date,
    config: DbtBuildConfig,
    run_vars: dict | None = None,
):
    """`dbt build` for `day`, given as HOURGLASS_AS_OF_DATE rather than a var: dbt parses the whole project
    again when its vars differ from the saved parse, and every night's day differs. `run_vars` (a backfill's
    range) win over the run config's one-off vars."""
    from hourglass import activation, model_steps  # data libraries only when a run starts

    settings.ensure_audience_dir()
    model_steps.prepare()
    activation.ensure_receipts()
    # dbt's unit tests check the SQL, which a run does not change: CI runs them (tests/test_middle.py), as dbt
    # advises, and runs leave them out.
    dbt_vars = {**config.vars, **(run_vars or {})}
    args = ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if config.full_refresh else [])]
    args += ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
    with settings.child_environment(HOURGLASS_AS_OF_DATE=day.isoformat()):
        # Not raise_on_error: a failed test reaches Dagster as a failed check, blocking (the step fails) except
        # on audiences, whose activation checks it; a node that errored fails the step below.
        invocation = dbt.cli(args, context=context, raise_on_error=False)
    # Row counts (tables; dagster-dbt leaves views alone) and column types on each model's materialisation,
    # read through dbt's adapter in this process; on DuckDB after dbt ends (it holds the lock). Not column
    # lineage: sqlglot cannot parse most of these models' DuckDB SQL, and each model would query its parents too.
    try:
        yield from invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
    finally:
        _close_adapter(invocation)
    if invocation.is_successful():
        return
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except FileNotFoundError:  # dbt stopped before it ran anything (a parse or connection error)
        raise invocation.get_error() or DbtBuildError("dbt failed before it ran any node") from None
    errors = [r["unique_id"] for r in results if r["status"] == "error"]
    if errors:
        raise DbtBuildError(f"dbt could not run {', '.join(errors)}: see the dbt log of this step")


def _close_adapter(invocation: DbtCliInvocation) -> None:
    """dbt-duckdb keeps one connection per process open for the process's life: closed here, or the next dbt
    step of an in-process run (another dbt process) finds the warehouse locked."""
    adapter = invocation.adapter
    if adapter is None:
        return
    adapter.cleanup_connections()
    manager = type(adapter.connections)
    environment = getattr(manager, "_ENV", None)  # DuckDB's shared database handle
    if environment is not None:
        environment.close()
        manager.close_all_connections()


@dbt_assets(
    manifest=manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    select=EVENT_MODELS,
    name="event_models",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),  # a date range is one dbt run, not one per day
    pool="warehouse",
)
def event_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    dbt_vars = None
    if end - start > timedelta(days=1):  # a backfill: exactly its days; one day: the usual lookback for late data
        dbt_vars = {"incremental_start": start.isoformat(), "incremental_end": end.isoformat()}
    yield from _build(context, dbt, end - timedelta(days=1), config, dbt_vars)


def _middle_part(name: str, select: str, exclude: str) -> dg.AssetsDefinition:
    """One part of the models between the event models and the audiences, built for the run's day."""

    @dbt_assets(
        manifest=manifest(),
        project=dbt_project,
        dagster_dbt_translator=translator,
        select=select,
        exclude=f"tag:effect {EVENT_MODELS} {exclude}",
        name=name,
        pool="warehouse",  # DuckDB allows one writing process: warehouse writers queue in this pool
    )
    def part(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
        yield from _build(context, dbt, run_as_of(context), config)

    return part


models_before_steps = _middle_part("models_before_steps", "fqn:*", "source:steps+")
identified_models = _middle_part("identified_models", AFTER_IDENTITY, AFTER_CLV)
dbt_models = _middle_part("dbt_models", AFTER_CLV, "")  # customer_360, segments, KPIs and the audiences

# Every model between ingest and activation, in the order a run builds them.
middle_models = [event_models, models_before_steps, identified_models, dbt_models]


@dbt_assets(
    manifest=manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    select="tag:effect",
    name="effect_models",
    pool="warehouse",
)
def effect_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    yield from _build(context, dbt, run_as_of(context), config)
