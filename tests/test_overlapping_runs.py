"""Two runs that write the warehouse at once, on the multiprocess executor: both succeed, neither sees a lock.

DuckDB allows one writing process. The dbt assets share the pool `warehouse` (limit 1 in dagster.yaml), so
the second run's dbt step waits for the first one's instead of failing on the file lock. Dagster keeps the pool
in its storage: the default SQLite files under DAGSTER_HOME, or PostgreSQL (deploy/dagster.yaml) on a local
server, as several machines would share it.
"""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import fault_log
import pytest
import yaml
from conftest import AS_OF
from local_postgres import local_postgres

from hourglass import settings

DEPLOY_YAML = Path(__file__).parents[1] / "deploy" / "dagster.yaml"


# Soak: SQLite, the storage of one machine; `make test` runs the one that several machines share, from the
# deployed file, whose pools and limits test_the_deployed_dagster_yaml_keeps_hourglass_own_settings ties to it.
@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.soak), "postgres"])
def storage(request, tmp_path) -> Iterator[dict[str, str]]:
    """DAGSTER_HOME and the variables its dagster.yaml reads: hourglass's own (SQLite), or deploy/dagster.yaml on
    a PostgreSQL server started for the test."""
    dagster_home = tmp_path / "dagster"
    if request.param == "sqlite":
        yield {"DAGSTER_HOME": str(dagster_home)}
        return
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DEPLOY_YAML.read_text())
    with local_postgres() as pg:
        yield {"DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_HOST": pg["host"], "DAGSTER_PG_PORT": pg["port"],
               "DAGSTER_PG_USERNAME": pg["user"], "DAGSTER_PG_PASSWORD": pg["password"],
               "DAGSTER_PG_DB": pg["database"]}  # fmt: skip


def test_the_deployed_dagster_yaml_keeps_hourglass_own_settings():
    """deploy/dagster.yaml is hourglass's dagster.yaml plus PostgreSQL storage: the pools and limits agree."""
    deployed = yaml.safe_load(DEPLOY_YAML.read_text())
    assert deployed.pop("storage")["postgres"]["postgres_db"]
    assert deployed == yaml.safe_load(settings.INSTANCE_YAML.read_text())


def _run_environment(mp: pytest.MonkeyPatch, home: Path, storage: dict[str, str]) -> None:
    for name, value in {"HOURGLASS_HOME": str(home), "HOURGLASS_AS_OF_DATE": AS_OF.isoformat(),
                        "HOURGLASS_NOW": f"{AS_OF}T10:00:00", **storage}.items():  # fmt: skip
        mp.setenv(name, value)


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest) -> Path:
    """A lake and a warehouse the sources and dbt steps of the nightly job built, once for both storages."""
    home = tmp_path_factory.mktemp("built") / "home"
    with pytest.MonkeyPatch.context() as mp:
        _run_environment(mp, home, {"DAGSTER_HOME": str(home / "dagster")})
        from hourglass.sample.generator import generate

        generate(out=home / "landing", customers=150, seed=5, as_of=AS_OF)
        settings.dagster_home()
        with dg.DagsterInstance.get() as instance:
            from hourglass.definitions import nightly

            first = [dg.AssetKey(n) for n in _sources()] + _dbt_keys()
            day = {"dagster/partition": AS_OF.isoformat()}  # the event models are daily partitions
            with dg.execute_job(dg.reconstructable(nightly), instance=instance, asset_selection=first, tags=day) as run:
                assert run.success
    return home


def test_overlapping_warehouse_writers_both_succeed(tmp_path, built, storage):
    home = tmp_path / "home"
    shutil.copytree(built, home, ignore=shutil.ignore_patterns("dagster"))  # its own copy of the warehouse
    with pytest.MonkeyPatch.context() as mp:
        _run_environment(mp, home, storage)
        settings.dagster_home()  # writes hourglass's dagster.yaml (the pools) where there is none
        with dg.DagsterInstance.get() as instance:
            kind = "Postgres" if "DAGSTER_PG_HOST" in storage else "Sqlite"  # where the pools are kept
            assert type(instance.event_log_storage).__name__.startswith(kind)
            before = _row_counts(home)
            # The middle rebuilt and a "manual" materialisation of one model, as two processes started together,
            # the way the daemon and the UI launch runs.
            dagster = str(Path(sys.executable).parent / "dagster")  # installed beside this interpreter
            launch = [dagster, "asset", "materialize", "-m", "hourglass.definitions", "--select"]
            procs = {
                "nightly": subprocess.Popen(
                    [*launch, "group:model", "--partition", AS_OF.isoformat()],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                ),
                "manual": subprocess.Popen([*launch, "customer_360"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
            }
            outputs = {name: p.communicate(timeout=600)[0].decode() for name, p in procs.items()}
            for name, p in procs.items():
                assert p.returncode == 0, outputs[name][-3000:]
            runs = {r.run_id: r for r in instance.get_runs()}
            assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs.values())
            results = {name: (True, run_id) for name, run_id in zip(procs, runs, strict=True)}
            logs = "".join(
                str(r.event_log_entry.user_message)
                for name in results
                for r in instance.get_records_for_run(results[name][1]).records
            )
            locks = logs.count("Could not set lock") + logs.count("Conflicting lock")
            fault_log.fault("overlapping runs on the multiprocess executor", len(runs))
            fault_log.count("lock errors in overlapping runs (must be 0)", locks)
            assert locks == 0
            waited = [
                r
                for name in results
                for r in instance.get_records_for_run(results[name][1]).records
                if "concurrency" in str(r.event_log_entry.user_message).lower()
                or "pool" in str(r.event_log_entry.user_message).lower()
            ]
            assert waited, "one run's dbt step should have waited for the pool"
    # No lost writes: every table both runs rebuilt from the same lake holds what it held before.
    after = _row_counts(home)
    fault_log.count(fault_log.LOST, sum(max(0, n - after.get(name, 0)) for name, n in before.items()))
    assert after == before and after["int_customer_360"] > 100  # customer_360 is a view over it


def _row_counts(home) -> dict[str, int]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' and table_type = 'BASE TABLE'"
        ).fetchall()
        return {name: con.execute(f'select count(*) from "{name}"').fetchall()[0][0] for (name,) in tables}


def _sources() -> list[str]:
    from hourglass.assets.ingest import ingest_assets

    return [a.key.to_user_string() for a in ingest_assets] + ["ga4_web"]


def _dbt_keys() -> list[dg.AssetKey]:
    """The middle: the dbt models and the Python steps between them."""
    from hourglass.assets.models import middle_models
    from hourglass.assets.steps import clv, identity_components

    return [key for assets in (*middle_models, identity_components, clv) for key in assets.keys]
