"""Apache Spark for dbt when HOURGLASS_ENGINE=spark: a cluster someone runs, or a local one hourglass starts.

With HOURGLASS_SPARK_HOST set, dbt connects to that cluster's Thrift server (HOURGLASS_SPARK_PORT,
HOURGLASS_SPARK_METHOD thrift or http; profiles.yml reads them) and nothing is started here. Without it, hourglass
stands a Spark standalone cluster up on loopback, the way the GA4 emulator stands in for Google: a master and a
worker, and a Thrift server whose driver runs its queries on that worker, all from the `pyspark` package's jars
(`spark-class`) on Java 17. Everything the cluster keeps sits under HOURGLASS_HOME/spark: the Hive metastore
(Derby), the warehouse's tables, scratch space and the logs. The cluster outlives a dbt run: the next run (another
process too) finds it through HOURGLASS_HOME/spark/cluster.json and reuses it; `hourglass spark stop` ends it.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hourglass import settings

if TYPE_CHECKING:
    import pyarrow as pa

LOOPBACK = "127.0.0.1"
THRIFT_SERVER = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
STARTUP_SECONDS = 180.0  # a cold JVM on two busy cores: the Thrift server alone takes about 30 s

# The local cluster's Spark settings (what a dbt session needs is in profiles.yml). Shuffles are small here: Spark's
# 200 partitions would be mostly empty tasks.
SPARK_DEFAULTS = {
    "spark.master.rest.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    # Past 32 folders Spark lists them with a job of a task each; the lake has a folder per load date (GA4's a day
    # each), which the driver lists in a fraction of that.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    # One worker: a task has no nearer place to wait for than the free core it can have now.
    "spark.locality.wait": "0s",
    "spark.sql.session.timeZone": "UTC",
}


@dataclass(frozen=True)
class Endpoint:
    """Where dbt finds Spark: the profile's host, port and method."""

    host: str
    port: int
    method: str = "thrift"


@dataclass(frozen=True)
class Cluster:
    """A local cluster's processes and ports, as cluster.json records them."""

    master_pid: int
    worker_pid: int
    thrift_pid: int
    master_port: int
    thrift_port: int

    def alive(self) -> bool:
        return all(_alive(pid) for pid in self.pids()) and _accepts(self.thrift_port)

    def pids(self) -> tuple[int, int, int]:
        return self.thrift_pid, self.worker_pid, self.master_pid

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(LOOPBACK, self.thrift_port)


def spark_dir() -> Path:
    path = settings.home() / "spark"
    path.mkdir(parents=True, exist_ok=True)
    return path


def configured() -> Endpoint | None:
    """The cluster the settings name (HOURGLASS_SPARK_HOST, _PORT, _METHOD), if any."""
    host = os.environ.get("HOURGLASS_SPARK_HOST", "")
    if not host:
        return None
    method = os.environ.get("HOURGLASS_SPARK_METHOD") or "thrift"
    if method not in ("thrift", "http"):
        raise ValueError(f"HOURGLASS_SPARK_METHOD must be thrift or http, got {method!r}")
    return Endpoint(host, settings.int_setting("HOURGLASS_SPARK_PORT", 10000 if method == "thrift" else 443), method)


def ensure() -> Endpoint:
    """The Spark endpoint dbt is to use, exported to the environment dbt runs in: the configured cluster, else the
    local one (started when it is not running)."""
    endpoint = configured()
    if endpoint is None:
        # Only the port: without HOURGLASS_SPARK_HOST the profile's host is loopback, and the next call here
        # still finds the local cluster "not configured" and checks that it runs.
        endpoint = start().endpoint
        os.environ["HOURGLASS_SPARK_PORT"] = str(endpoint.port)
    return endpoint


def running() -> Cluster | None:
    """The local cluster of this HOURGLASS_HOME when it is up."""
    state = spark_dir() / "cluster.json"
    if not state.exists():
        return None
    cluster = Cluster(**json.loads(state.read_text()))
    return cluster if cluster.alive() else None


def start() -> Cluster:
    """The local cluster, started unless it runs; one process starts it while others wait for it."""
    with _lock():
        cluster = running()
        if cluster:
            return cluster
        _stop_recorded()  # a half-dead cluster (one process killed) is ended before a new one starts
        return _start()


def stop() -> bool:
    """End the local cluster of this HOURGLASS_HOME; whether one was recorded."""
    with _lock():
        return _stop_recorded()


def _start() -> Cluster:
    home = spark_dir()
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    conf = home / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "spark-defaults.conf").write_text(
        "".join(f"{key} {value}\n" for key, value in _defaults(home).items()), encoding="utf-8"
    )
    env = {
        **os.environ,
        "SPARK_HOME": str(_spark_home()),
        "SPARK_CONF_DIR": str(conf),
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOG_DIR": str(logs),
        "SPARK_WORKER_DIR": str(home / "work"),
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", "python3"),
    }
    master_port, master_ui, worker_ui, thrift_port = _free_ports(4)
    master_url = f"spark://{LOOPBACK}:{master_port}"
    processes: list[subprocess.Popen] = []
    try:
        master = _launch(
            "master", env, "org.apache.spark.deploy.master.Master",
            "--host", LOOPBACK, "--port", str(master_port), "--webui-port", str(master_ui),
        )  # fmt: skip
        processes.append(master)
        _wait_for(lambda: _accepts(master_port), processes, logs, "the Spark master")
        worker = _launch(
            "worker", env, "org.apache.spark.deploy.worker.Worker",
            "--host", LOOPBACK, "--webui-port", str(worker_ui), "--cores", str(os.cpu_count() or 2),
            "--memory", os.environ.get("HOURGLASS_SPARK_WORKER_MEMORY") or "2g", master_url,
        )  # fmt: skip
        processes.append(worker)
        thrift = _launch(
            "thrift", env, "org.apache.spark.deploy.SparkSubmit",
            "--master", master_url, "--class", THRIFT_SERVER, "--name", "hourglass",
            "--driver-memory", os.environ.get("HOURGLASS_SPARK_DRIVER_MEMORY") or "2g",  # plans big queries
            "--executor-memory", os.environ.get("HOURGLASS_SPARK_EXECUTOR_MEMORY") or "1536m",
            "--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
            "--hiveconf", f"hive.server2.thrift.port={thrift_port}",
            "spark-internal",
        )  # fmt: skip
        processes.append(thrift)
        _wait_for(lambda: _accepts(thrift_port), processes, logs, "the Spark Thrift server")
    except BaseException:
        for process in reversed(processes):
            _end(process.pid)
        raise
    cluster = Cluster(master.pid, worker.pid, thrift.pid, master_port, thrift_port)
    (home / "cluster.json").write_text(json.dumps(asdict(cluster)), encoding="utf-8")
    return cluster


def _defaults(home: Path) -> dict[str, str]:
    """SPARK_DEFAULTS with the paths of this HOURGLASS_HOME: the metastore, the warehouse, scratch space."""
    metastore = home / "metastore"
    return {
        **SPARK_DEFAULTS,
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        "spark.local.dir": str(home / "tmp"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore}",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore / 'db'};create=true",
    }


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _launch(name: str, env: dict[str, str], main_class: str, *args: str) -> subprocess.Popen:
    """A Spark daemon in its own session (it outlives this process), its output in logs/<name>.log."""
    log = (spark_dir() / "logs" / f"{name}.log").open("ab")
    command = [str(_spark_home() / "bin" / "spark-class"), main_class, *args]
    try:
        return subprocess.Popen(
            command, cwd=spark_dir(), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()


def _wait_for(ready, processes: list[subprocess.Popen], logs: Path, what: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():
        dead = [p for p in processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = "exited" if dead else f"was not up after {STARTUP_SECONDS:.0f} s"
            raise RuntimeError(f"{what} {why}: see the logs in {logs}")
        time.sleep(0.5)


def _stop_recorded() -> bool:
    state = spark_dir() / "cluster.json"
    if not state.exists():
        return False
    for pid in Cluster(**json.loads(state.read_text())).pids():
        _end(pid)
    state.unlink()
    return True


def _end(pid: int, grace: float = 20.0) -> None:
    """End a daemon's process group (spark-class execs java in it), politely first."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child, so it does not linger as a zombie
        if finished:
            return False
    except ChildProcessError:
        pass  # started by another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def _lock():
    with (spark_dir() / "cluster.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def query(sql: str) -> list[tuple]:
    """The rows of a query on the Spark warehouse, dbt's schema the current one, through the Thrift server dbt
    uses: for small answers outside dbt (counts in `hourglass summary`)."""
    return _run(sql)[1]


def fetch(relation: str) -> pa.Table:
    """A table or view of the Spark warehouse (dbt's schema) as Arrow, through the Thrift server dbt uses: for the
    readers of small marts outside dbt (the KPI report). Dates come over Thrift as text and arrays as JSON."""
    import datetime as dt

    import pyarrow as pa  # noqa: F811 - at run time, not at import

    description, rows = _run(f"select * from {relation}")
    columns = [(name.split(".")[-1], kind) for name, kind, *_ in description]
    readers = {"DATE_TYPE": dt.date.fromisoformat, "ARRAY_TYPE": json.loads, "DECIMAL_TYPE": float}
    data = {}
    for index, (name, kind) in enumerate(columns):
        read = readers.get(kind)
        data[name] = [read(row[index]) if read and row[index] is not None else row[index] for row in rows]
    return pa.table(data) if rows else pa.table({name: pa.array([], pa.null()) for name, _ in columns})


def _run(sql: str) -> tuple[list, list[tuple]]:
    from pyhive import hive

    endpoint = ensure()
    schema = os.environ.get("HOURGLASS_SPARK_SCHEMA") or "hourglass"
    with hive.connect(host=endpoint.host, port=endpoint.port, username="hourglass", database=schema) as con:
        cursor = con.cursor()
        cursor.execute(sql)
        return cursor.description, cursor.fetchall()
