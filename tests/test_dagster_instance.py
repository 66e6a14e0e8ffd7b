"""The one-writer rule however Dagster starts: each documented way of starting it serves an instance whose pools
are limited to 1 (pool `warehouse`: one dbt build writes the DuckDB file at a time), with at most two runs at
once and telemetry off, as the committed dagster.yaml says. And `dg` loads the project's definitions.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from hourglass import settings

BIN = settings.PROJECT_ROOT / ".venv" / "bin"
INSTANCE_QUERY = "{ instance { info poolConfig { defaultPoolLimit } runQueueConfig { maxConcurrentRuns } } }"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _started(command: list, env: dict, log: Path):
    """A Dagster webserver (and daemon) started by `command` in the project folder, until it answers."""
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=settings.PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                assert server.poll() is None, f"{command} exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{command} did not answer within 5 minutes"
                time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


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
    "make dev": (["make", "dev"], False),
    "make dev, a given DAGSTER_HOME": (["make", "dev"], True),
    "dg dev": ([BIN / "dg", "dev", "-h", "127.0.0.1", "-p", "{port}"], False),
}


@pytest.mark.slow
@pytest.mark.parametrize("way", list(WAYS))
def test_every_documented_way_of_starting_dagster_limits_the_warehouse_pool(way, tmp_path, dbt_manifest):
    command, given_home = WAYS[way]
    port = str(_free_port())
    env = {name: value for name, value in os.environ.items() if name not in ("DAGSTER_HOME", "VIRTUAL_ENV")}
    env |= {"HOURGLASS_HOME": str(tmp_path / "home"), "PORT": port, "HOURGLASS_LANDING_SENSOR": "stopped"}
    if given_home:
        env["DAGSTER_HOME"] = str(tmp_path / "elsewhere")
    if command[0] != "make":
        env["VIRTUAL_ENV"] = str(BIN.parent)  # as an activated virtualenv: dg checks it is the project's
    command = [str(part).replace("{port}", port) for part in command]
    with _started(command, env, tmp_path / "dagster.log") as url:
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
    env = {**os.environ, "VIRTUAL_ENV": str(BIN.parent)}
    checked = subprocess.run([BIN / "dg", "check", "defs"], cwd=settings.PROJECT_ROOT, env=env, text=True,
                             capture_output=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    assert "arning" not in checked.stdout + checked.stderr  # no deprecation, supersession or venv warning
