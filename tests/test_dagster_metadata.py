"""What a Dagster user expects on an asset page, from the session's nightly run: row counts on every source and
every dbt table, column types on the dbt models, code references to the model files; and the
column types the marts' and audiences' yml declare, as dbt's catalog finds them in the warehouse."""

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from hourglass import settings

pytestmark = pytest.mark.slow


def _materializations(result) -> dict[str, dict]:
    return {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def test_every_source_and_dbt_table_has_a_row_count(pipeline, dbt_manifest):
    from hourglass.definitions import defs

    _, result = pipeline
    materialized = _materializations(result)
    manifest = json.loads(dbt_manifest.read_text())
    tables = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "view"
    }
    sources = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys() if _is_source(key)}
    assert sources and tables
    for name in sorted(sources | (tables & set(materialized))):
        assert "dagster/row_count" in materialized[name], f"{name} has no row count"
    assert materialized["identity_map"]["dagster/row_count"].value > 0
    # A source's count is every row in the lake, not only this run's load.
    assert (
        materialized["crm_customers"]["dagster/row_count"].value == materialized["crm_customers"]["rows_loaded"].value
    )


def _is_source(key: dg.AssetKey) -> bool:
    from hourglass.definitions import defs

    node = defs.resolve_asset_graph().get(key)
    return node.group_name == "ingest"


def test_dbt_models_carry_column_types_and_their_file(pipeline, dbt_manifest):
    from hourglass.definitions import defs

    _, result = pipeline
    materialized = _materializations(result)
    manifest = json.loads(dbt_manifest.read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] in materialized:
            assert "dagster/column_schema" in materialized[node["name"]], f"{node['name']} has no column types"
    columns = {c.name: c.type for c in materialized["customer_segments"]["dagster/column_schema"].schema.columns}
    assert "char" in columns["customer_key"].lower()  # dbt's name for DuckDB's VARCHAR: character varying(256)
    assert len(columns) > 10  # every column, not only those the yml documents

    node = defs.resolve_asset_graph().get(dg.AssetKey("customer_segments"))
    (reference,) = node.metadata["dagster/code_references"].code_references
    assert Path(reference.file_path) == settings.DBT_PROJECT_DIR / "models" / "marts" / "customer_segments.sql"


def test_dbt_docs_generate_runs_as_an_analyst_runs_it_and_agrees_with_the_yml_types(pipeline_copy, tmp_path):
    """`dbt docs generate` from dbt_project/ with HOURGLASS_HOME set (README); its catalog, read from the
    warehouse, has the type each column of the marts and audiences declares in its yml."""
    home, _ = pipeline_copy
    env = {**os.environ, "HOURGLASS_HOME": str(home)}
    # Its own target folder: the suite's other tests read dbt_project/target/manifest.json meanwhile.
    dbt = settings.PROJECT_ROOT / ".venv" / "bin" / "dbt"
    generated = subprocess.run([dbt, "docs", "generate", "--target-path", tmp_path / "target"],
                               cwd=settings.DBT_PROJECT_DIR, env=env, capture_output=True, text=True)  # fmt: skip
    assert generated.returncode == 0, generated.stdout[-3000:]
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())["nodes"]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())["nodes"]
    declared = {
        (node["unique_id"], name): column.get("data_type")
        for node in manifest.values()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith(("models/marts", "models/audiences"))
        for name, column in node["columns"].items()
    }
    assert len(declared) > 30
    for (unique_id, name), data_type in sorted(declared.items()):
        found = catalog[unique_id]["columns"][name]["type"]
        assert data_type, f"{unique_id}.{name} has no data_type in its yml"
        assert data_type.lower() == found.lower(), f"{unique_id}.{name}: yml says {data_type}, warehouse {found}"
