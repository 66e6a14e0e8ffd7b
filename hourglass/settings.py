"""Where hourglass keeps its files. Everything it writes lives under HOURGLASS_HOME."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
TEMPLATES_DIR = PROJECT_ROOT / "templates"


@cache
def dbt_vars() -> dict:
    """The dbt project's vars (dbt_project.yml): facts the warehouse and the Python side both need, such as the
    consent purposes, are written there once."""
    import yaml

    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def home() -> Path:
    """HOURGLASS_HOME as an absolute path (default ./data), exported so dbt resolves the same folder."""
    path = Path(os.environ.get("HOURGLASS_HOME") or PROJECT_ROOT / "data").expanduser().resolve()
    os.environ["HOURGLASS_HOME"] = str(path)
    return path


def landing_dir() -> Path:
    return home() / "landing"


def lake_dir() -> Path:
    return home() / "lake"


def outbox_dir() -> Path:
    return home() / "outbox"


def warehouse_path() -> Path:
    return home() / "warehouse.duckdb"


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """HOURGLASS_ENGINE: what dbt builds the middle on, DuckDB (default) or Apache Spark (hourglass/spark.py); the
    dbt target of the same name (profiles.yml)."""
    name = os.environ.get("HOURGLASS_ENGINE") or "duckdb"
    if name not in ENGINES:
        raise ValueError(f"HOURGLASS_ENGINE must be one of {', '.join(ENGINES)}, got {name!r}")
    return name


def ensure_audience_dir() -> Path:
    """dbt-duckdb writes audiences to files but does not create their folder."""
    path = lake_dir() / "audiences"
    path.mkdir(parents=True, exist_ok=True)
    return path


def audience_export(model_name: str) -> Path:
    """Where an audience leaves the warehouse for activation: one Parquet file from dbt-duckdb's external
    materialisation (profiles.yml: external_root), a table's folder of Parquet files on Spark (dbt_project.yml:
    location_root). pyarrow reads either."""
    folder = lake_dir() / "audiences"
    return folder / model_name if engine() == "spark" else folder / f"{model_name}.parquet"


def audience_exports() -> dict[str, str]:
    """Each exported audience by model name, as a path or glob DuckDB's read_parquet reads (either engine's)."""
    folder = lake_dir() / "audiences"
    found = {path.stem: str(path) for path in folder.glob("*.parquet") if path.is_file()}
    found |= (
        {path.name: str(path / "*.parquet") for path in folder.iterdir() if path.is_dir()} if folder.exists() else {}
    )
    return dict(sorted(found.items()))


def ledger_path() -> Path:
    """The send ledger (SQLite in WAL mode): one file for every campaign, so the frequency cap sees them all."""
    path = home() / "ledger" / "sends.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _number(name: str, default, kind: type, what: str):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc


def int_setting(name: str, default: int) -> int:
    return _number(name, default, int, "a whole number")


TIMEZONE = "Europe/Amsterdam"


def now() -> datetime:
    """The moment a run acts at (HOURGLASS_NOW, ISO, for tests and replays; default the clock), in TIMEZONE."""
    zone = ZoneInfo(os.environ.get("HOURGLASS_TIMEZONE") or TIMEZONE)
    raw = os.environ.get("HOURGLASS_NOW")
    if not raw:
        return datetime.now(zone)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"HOURGLASS_NOW must be a moment like 2026-11-22T10:00:00, got {raw!r}") from exc
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def float_setting(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def date_setting(name: str, default: date) -> date:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a date like 2026-11-22, got {raw!r}") from exc


def as_of_date() -> date:
    """The day a run acts for (HOURGLASS_AS_OF_DATE, default today): dbt and activation use the same one."""
    return date_setting("HOURGLASS_AS_OF_DATE", date.today())


def history_start() -> date:
    """The first day the jobs have a partition for (HOURGLASS_HISTORY_START): a run as of an earlier day needs
    an earlier start."""
    return date_setting("HOURGLASS_HISTORY_START", date(2024, 1, 1))


# The instance configuration (pools, run concurrency, telemetry), committed once; see its header.
INSTANCE_YAML = PROJECT_ROOT / "dagster.yaml"


def dagster_home() -> Path:
    """DAGSTER_HOME (default HOURGLASS_HOME/dagster), with hourglass's dagster.yaml copied in if it has none."""
    path = Path(os.environ.get("DAGSTER_HOME") or home() / "dagster").resolve()
    os.environ["DAGSTER_HOME"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML.read_text())
    return path


@contextmanager
def child_environment(**values: str):
    """os.environ with `values` set, for a child process started inside; restored afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
