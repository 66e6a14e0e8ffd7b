"""The narrow middle: every dbt model, seed and test as Dagster assets and checks.

Two dbt asset definitions over one project: `dbt_models`, everything up to the audiences, and `effect_models`
(tag `effect`), which read the activation receipts and so run after the sends. One definition could not do
both: a run cannot come back to the same step after activation.
"""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from hourglass import activation, settings
from hourglass.campaigns import audience_nodes
from hourglass.project import dbt_project, manifest

RECEIPTS_MODEL = "model.hourglass.stg_activation_receipts"


class HourglassTranslator(DagsterDbtTranslator):
    """dbt nodes sit in the `model` group, between `ingest` and `activate`; effect models in `measure`."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "measure" if "effect" in dbt_resource_props.get("tags", []) else "model"

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id == RECEIPTS_MODEL:  # the receipts come from every campaign's send
            campaigns = [dg.AssetKey(["activation", node["name"]]) for node in audience_nodes(manifest)]
            return spec.replace_attributes(deps=campaigns)
        return spec


translator = HourglassTranslator()


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    settings.ensure_audience_dir()
    activation.ensure_receipts()
    dbt_vars = {"as_of_date": settings.as_of_date().isoformat()}
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()


@dbt_assets(
    manifest=manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    exclude="tag:effect",
    pool="warehouse",  # DuckDB allows one writing process: warehouse writers queue in this pool
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from _build(context, dbt)


@dbt_assets(
    manifest=manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    select="tag:effect",
    name="effect_models",
    pool="warehouse",
)
def effect_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from _build(context, dbt)
