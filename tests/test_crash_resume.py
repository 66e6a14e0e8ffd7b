"""SIGKILL at random points of a load and of a dbt build; a plain re-run then leaves everything as a clean run.

`make test` kills a few points; `make soak` (HOURGLASS_SOAK=1) many more, and the dbt build too. The send is
killed in test_activation.py.
"""

import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import fault_log
import pytest
from conftest import AS_OF

from hourglass import settings

SOAK = bool(os.environ.get("HOURGLASS_SOAK"))
LOAD = "from hourglass import landing; from hourglass.sources import CONTRACTS; landing.load_source(CONTRACTS['{}'])"


def _env(home) -> dict:
    return {**os.environ, "HOURGLASS_HOME": str(home), "HOURGLASS_AS_OF_DATE": AS_OF.isoformat()}


def _lake_state(home, source: str) -> tuple:
    """Partitions, leftovers and rows of a source's raw and quarantine datasets."""
    state = []
    for kind in ("raw", "quarantine"):
        dataset = home / "lake" / kind / source
        names = sorted(p.name for p in dataset.iterdir()) if dataset.exists() else []
        rows = duckdb.sql(f"select count(*) from read_parquet('{dataset}/load_date=*/*.parquet')").fetchall()[0][0]
        state.append((names, rows))
    return tuple(state)


def _kill_at(command: list[str], env: dict, after: float, cwd=None) -> bool:
    """Run, SIGKILL after `after` seconds; True if it was still running then."""
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


@pytest.mark.parametrize("source", ["esp_events", "erp_orders"])
def test_a_load_killed_anywhere_is_completed_by_a_plain_rerun(tmp_path, source):
    from hourglass.generator import generate

    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for home in (clean, crashed):
        generate(out=home / "landing", customers=1500, seed=21, as_of=AS_OF)
    command = [sys.executable, "-c", LOAD.format(source)]
    started = time.perf_counter()
    subprocess.run(command, env=_env(clean), check=True)
    full = time.perf_counter() - started
    expected = _lake_state(clean, source)

    rng = random.Random(source)
    points = 8 if SOAK else 3
    killed = 0
    for _ in range(points):
        killed += _kill_at(command, _env(crashed), rng.uniform(0.05, full))
    fault_log.count("loads killed (SIGKILL)", killed)
    subprocess.run(command, env=_env(crashed), check=True)  # the plain re-run
    fault_log.count("runs resumed after a kill", 1)
    assert _lake_state(crashed, source) == expected  # same partitions, no leftovers, every row once
    raw, quarantine = expected
    fault_log.count("rows accounted for", raw[1] + quarantine[1])


@pytest.mark.skipif(not SOAK, reason="a dbt build per kill point: make soak")
def test_a_dbt_build_killed_anywhere_is_repaired_by_a_plain_rerun(tmp_path, dbt_manifest):
    from hourglass import activation
    from hourglass.generator import generate
    from hourglass.landing import ensure_not_missing, load_source
    from hourglass.sources import CONTRACTS

    home = tmp_path / "home"
    generate(out=home / "landing", customers=300, seed=4, as_of=AS_OF)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        for contract in CONTRACTS.values():
            if contract.name == "ga4_web":
                ensure_not_missing(contract)  # web data does not matter here: an empty typed table
            else:
                load_source(contract)
        settings.ensure_audience_dir()
        activation.ensure_receipts()
    dbt = [str(settings.PROJECT_ROOT / ".venv" / "bin" / "dbt"), "run",
           "--vars", f'{{"as_of_date": "{AS_OF}"}}', "--target-path", str(tmp_path / "target")]  # fmt: skip
    env = {**_env(home), "DBT_PROFILES_DIR": str(settings.DBT_PROJECT_DIR)}
    run = {"cwd": settings.DBT_PROJECT_DIR, "env": env, "capture_output": True, "text": True}
    seeds = subprocess.run([dbt[0], "seed", *dbt[-2:]], **run)
    assert seeds.returncode == 0, seeds.stdout[-2000:]
    first = subprocess.run(dbt, **run)
    assert first.returncode == 0, first.stdout[-2000:]
    started = time.perf_counter()  # timed on a second build: the first one parses the project
    assert subprocess.run(dbt, **run).returncode == 0
    full = time.perf_counter() - started
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        expected = con.sql("select count(*), sum(monetary_value) from customer_360").fetchall()
    rng = random.Random(5)
    killed = sum(_kill_at(dbt, env, rng.uniform(0.3, 0.9) * full, settings.DBT_PROJECT_DIR) for _ in range(5))
    fault_log.count("dbt builds killed (SIGKILL)", killed)
    again = subprocess.run(dbt, **run)
    assert again.returncode == 0, again.stdout[-2000:]
    fault_log.count("runs resumed after a kill", 1)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.sql("select count(*), sum(monetary_value) from customer_360").fetchall() == expected
