"""Start the matching ingestion when a landing file arrives or changes."""

import hashlib
import json
import os

import dagster as dg

from hourglass.assets.ingest import API_SOURCES
from hourglass.sources import CONTRACTS

FILE_SOURCES = [name for name in CONTRACTS if name not in API_SOURCES]


def landing_fingerprints() -> dict[str, str]:
    """A short hash per source over its landing files' names, sizes and modification times."""
    from hourglass import landing  # DuckDB and pyarrow: imported on a sensor tick, not at definitions load

    prints = {}
    for source in FILE_SOURCES:
        files = landing.landing_files(source).files  # those refused for their name too: their run says why
        if files:
            prints[source] = hashlib.sha256(json.dumps(landing.fingerprint(files)).encode()).hexdigest()[:16]
    return prints


def _default_status() -> dg.DefaultSensorStatus:
    """HOURGLASS_LANDING_SENSOR=stopped starts the UI with the sensor off (a toggle in the UI turns it on)."""
    raw = os.environ.get("HOURGLASS_LANDING_SENSOR", "running").strip().lower()
    if raw not in ("running", "stopped"):
        raise ValueError(f"HOURGLASS_LANDING_SENSOR must be running or stopped, got {raw!r}")
    return dg.DefaultSensorStatus.RUNNING if raw == "running" else dg.DefaultSensorStatus.STOPPED


@dg.sensor(
    target=dg.AssetSelection.assets(*FILE_SOURCES),
    minimum_interval_seconds=60,
    default_status=_default_status(),
    description="Materialises a source's ingest asset when files in HOURGLASS_HOME/landing/<source>/ change.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen = json.loads(context.cursor) if context.cursor else {}
    now = landing_fingerprints()
    changed = sorted(source for source, print_ in now.items() if seen.get(source) != print_)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{source}:{now[source]}", asset_selection=[dg.AssetKey(source)])
            for source in changed
        ],
        cursor=json.dumps(now),
    )
