"""The same middle on Apache Spark: customer_360 and every audience equal DuckDB's, row by row.

One local Spark cluster (hourglass.spark: master, worker and Thrift server on loopback) serves the session. The
test builds the whole middle on it over a copy of the session pipeline's lake (the demo data), the way a night
does (model_steps.dbt_build: the dbt parts with the Python steps between them), and compares with what the DuckDB
pipeline built from the same files. Floats agree to FLOAT_TOLERANCE (relative): the engines sum and average in
different orders. Marked `spark`: in `make test`, left out by `make check` (-m "not spark")."""

import json
import math
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import AS_OF

from hourglass import model_steps, settings, spark
from hourglass.campaigns import audience_nodes
from hourglass.project import manifest

pytestmark = pytest.mark.spark

FLOAT_TOLERANCE = 1e-6
KEY = "customer_key"  # the rows of customer_360 and of the audiences are people


@dataclass(frozen=True)
class LocalCluster:
    home: Path  # the HOURGLASS_HOME it keeps its metastore, warehouse and logs in
    cluster: spark.Cluster

    @property
    def thrift_port(self) -> int:
        return self.cluster.thrift_port


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory):
    """A local Spark cluster for the session; the tests reach it through HOURGLASS_SPARK_HOST/_PORT."""
    home = tmp_path_factory.mktemp("spark-cluster")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        cluster = spark.start()
    try:
        yield LocalCluster(home, cluster)
    finally:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HOURGLASS_HOME", str(home))
            spark.stop()


@pytest.fixture
def on_spark(pipeline_copy, spark_cluster, monkeypatch):
    """The pipeline copy's middle built again on Spark: its home, and the seconds the build took."""
    from hourglass.project import DbtCli, dbt_project

    home, _ = pipeline_copy
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    monkeypatch.setenv("HOURGLASS_ENGINE", "spark")
    monkeypatch.setenv("HOURGLASS_SPARK_HOST", "127.0.0.1")
    monkeypatch.setenv("HOURGLASS_SPARK_PORT", str(spark_cluster.thrift_port))
    dbt = DbtCli(project_dir=dbt_project)
    target = home / "dbt-target-spark"
    started = time.perf_counter()
    with settings.child_environment(HOURGLASS_AS_OF_DATE=AS_OF.isoformat()):
        model_steps.dbt_build(
            lambda args: dbt.cli(args, raise_on_error=True, target_path=target).wait(),
            "fqn:*", "--exclude", "tag:effect", "--exclude-resource-type", "test", "unit_test", day=AS_OF,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    print(f"the middle built on Spark in {seconds:.0f}s")
    return home, seconds


def _spark_rows(port: int, relation: str) -> list[dict]:
    from pyhive import hive

    with hive.connect(host="127.0.0.1", port=port, username="hourglass") as con:
        cursor = con.cursor()
        cursor.execute(f"select * from hourglass.{relation}")
        names = [column[0].split(".")[-1] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _canonical(value):
    """One spelling per value across the engines' drivers: dates as text, lists as sorted tuples, floats as
    floats (compared with a tolerance), Spark's arrays (JSON text over Thrift) as lists."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return tuple(sorted(_canonical(v) for v in value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(float(a), float(b), rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    return a == b


def _assert_same_rows(name: str, duck: list[dict], other: list[dict]) -> None:
    assert len(duck) == len(other), f"{name}: {len(duck)} rows on DuckDB, {len(other)} on Spark"
    assert set(duck[0] if duck else {}) == set(other[0] if other else {}), f"{name}: other columns"
    by_key = {row[KEY]: row for row in other}
    for row in duck:
        twin = by_key.get(row[KEY])
        assert twin is not None, f"{name}: {row[KEY]} is missing on Spark"
        for column, value in row.items():
            a, b = _canonical(value), _canonical(twin[column])
            assert _same(a, b), f"{name}.{column} of {row[KEY]}: DuckDB {a!r}, Spark {b!r}"


def test_customer_360_and_every_audience_are_the_same_on_spark(on_spark, spark_cluster):
    home, seconds = on_spark
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        found = con.sql("select * from customer_360")
        duck_360 = [dict(zip(found.columns, row, strict=True)) for row in found.fetchall()]
    assert len(duck_360) > 1000  # the demo data
    _assert_same_rows("customer_360", duck_360, _spark_rows(spark_cluster.thrift_port, "customer_360"))

    audiences = settings.lake_dir() / "audiences"
    names = sorted(path.stem for path in audiences.glob("*.parquet"))
    assert names == [node["name"] for node in audience_nodes(manifest())]
    for name in names:
        # DuckDB's export is <name>.parquet (an empty audience one all-null row), Spark's the folder <name>/
        duck = [r for r in pq.read_table(audiences / f"{name}.parquet").to_pylist() if r[KEY] is not None]
        other = pq.read_table(audiences / name).to_pylist()
        assert duck, f"{name} is empty on the demo data"
        _assert_same_rows(name, duck, other)
    print(f"customer_360 ({len(duck_360)} rows) and {len(names)} audiences agree; Spark build {seconds:.0f}s")


def test_a_configured_cluster_is_used_and_none_is_started(spark_cluster, home, monkeypatch):
    monkeypatch.setenv("HOURGLASS_SPARK_HOST", "127.0.0.1")
    monkeypatch.setenv("HOURGLASS_SPARK_PORT", str(spark_cluster.thrift_port))
    assert spark.ensure() == spark.Endpoint("127.0.0.1", spark_cluster.thrift_port)
    assert not (home / "spark" / "cluster.json").exists()


def test_the_local_cluster_is_reused_while_it_runs(spark_cluster, monkeypatch):
    monkeypatch.setenv("HOURGLASS_HOME", str(spark_cluster.home))
    monkeypatch.delenv("HOURGLASS_SPARK_HOST", raising=False)
    assert spark.running() == spark_cluster.cluster
    assert spark.start() == spark_cluster.cluster  # found, not started again
    assert spark.ensure().port == spark_cluster.thrift_port
