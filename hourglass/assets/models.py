"""The narrow middle: every dbt model, seed and test as Dagster assets and checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from hourglass import activation, settings
from hourglass.project import dbt_project, manifest


class HourglassTranslator(DagsterDbtTranslator):
    """All dbt nodes sit in the `model` group, between `ingest` and `activate`."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "model"


translator = HourglassTranslator()


@dbt_assets(
    manifest=manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool="warehouse",  # DuckDB allows one writing process: warehouse writers queue in this pool
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    settings.ensure_audience_dir()
    activation.ensure_receipts()
    dbt_vars = {"as_of_date": settings.as_of_date().isoformat()}
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()
