"""The one-writer rule however Dagster starts: each documented way of starting it serves an instance whose pools
are limited to 1 (pool `warehouse`: one dbt build writes the DuckDB file at a time), with at most two runs at
once and telemetry off, as the committed dagster.yaml says. And `dg` loads the project's definitions.
"""

import json
import os
import subprocess
import urllib.request

import pytest
import yaml
from dagster_dev import BIN, dg_dev, dg_environment, free_port, started

from hourglass import settings

INSTANCE_QUERY = "{ instance { info poolConfig { defaultPoolLimit } runQueueConfig { maxConcurrentRuns } } }"


def _instance(url: str) -> dict:
    """The started instance as its webserver reports it over GraphQL."""
    request = urllib.request.Request(
        f"{url}/graphql", json.dumps({"query": INSTANCE_QUERY}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["data"]["instance"]


# The ways docs and README give: `make dev` (DAGSTER_HOME defaults to HOURGLASS_HOME/dagster), `make dev` with a
# DAGSTER_HOME of one's own (production: durable storage), and `dg dev` in the project folder without one.
WAYS = {
    "make dev": (lambda port: ["make", "dev"], False),
    "make dev, a given DAGSTER_HOME": (lambda port: ["make", "dev"], True),
    "dg dev": (dg_dev, False),
}


@pytest.mark.slow
@pytest.mark.parametrize("way", list(WAYS))
def test_every_documented_way_of_starting_dagster_limits_the_warehouse_pool(way, tmp_path, dbt_manifest):
    command, given_home = WAYS[way]
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "DAGSTER_HOME"}
    env |= {"HOURGLASS_HOME": str(tmp_path / "home"), "PORT": str(port), "HOURGLASS_LANDING_SENSOR": "stopped"}
    if given_home:
        env["DAGSTER_HOME"] = str(tmp_path / "elsewhere")
    with started(command(port), dg_environment(env), port, tmp_path / "dagster.log") as url:
        instance = _instance(url)
    assert instance["poolConfig"]["defaultPoolLimit"] == 1  # pool "warehouse" (and each campaign's ledger pool)
    assert instance["runQueueConfig"]["maxConcurrentRuns"] == 2
    settings_shown = yaml.safe_load(instance["info"])
    assert settings_shown["telemetry"] == {"enabled": False}
    assert settings_shown["freshness"] == {"enabled": True}
    if given_home:
        assert (tmp_path / "elsewhere" / "dagster.yaml").read_text() == settings.INSTANCE_YAML.read_text()


def test_the_pool_name_the_assets_use_is_the_one_limited(dbt_manifest):
    """Every asset that opens the warehouse file queues in pool `warehouse`, which the default limit covers."""
    from hourglass.definitions import defs

    pools = {node.key.to_user_string(): node.pools for node in defs.resolve_asset_graph().asset_nodes}
    assert pools["customer_360"] == {"warehouse"} and pools["kpi_report"] == {"warehouse"}
    assert yaml.safe_load(settings.INSTANCE_YAML.read_text())["concurrency"]["pools"]["default_limit"] == 1


@pytest.mark.slow
def test_dg_check_defs_loads_the_project(home, dbt_manifest):
    env = dg_environment(dict(os.environ))
    checked = subprocess.run(
        [BIN / "dg", "check", "defs"], cwd=settings.PROJECT_ROOT, env=env, text=True, capture_output=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    assert "arning" not in checked.stdout + checked.stderr  # no deprecation, supersession or venv warning
