"""Retention (art. 5): what is older than its retention period is removed, and the audit log says what.

Periods are in days, from environment variables (docs/configuration.md):
- HOURGLASS_RETENTION_DAYS (default 730): each source's lake partitions by load date, with their landing files;
  HOURGLASS_RETENTION_DAYS_<SOURCE> (e.g. ..._ESP_EVENTS) for one source. A source's newest partition is always
  kept: for a full export (the CRM) it is the current state, not history.
- HOURGLASS_RETENTION_QUARANTINE_DAYS (default 90): quarantined rows, by load date.
- HOURGLASS_RETENTION_OUTBOX_DAYS (default 90): outbox messages and ad-audience files, by send window.
- HOURGLASS_RETENTION_RECEIPTS_DAYS (default 730): activation receipts, by send window (campaign effects need them).
0 keeps forever. "Older" is counted back from HOURGLASS_AS_OF_DATE (default today).
"""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from hourglass import lake, settings
from hourglass.privacy import audit, places
from hourglass.sources import CONTRACTS

RECEIPTS = "activation_receipts"
DEFAULTS = {"sources": 730, "quarantine": 90, "outbox": 90, "receipts": 730}
_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass
class Removed:
    partitions: dict[str, list[str]] = field(default_factory=dict)  # dataset -> load dates removed
    files: dict[str, int] = field(default_factory=dict)  # landing/<source>, outbox, ads -> files removed

    def counts(self) -> dict[str, int]:
        return {
            "partitions": sum(len(v) for v in self.partitions.values()),
            "files": sum(self.files.values()),
        }


def periods() -> dict[str, int]:
    """Retention in days per dataset: each source, quarantine, outbox (and ad files), receipts."""
    default = settings.int_setting("HOURGLASS_RETENTION_DAYS", DEFAULTS["sources"])
    found = {name: settings.int_setting(f"HOURGLASS_RETENTION_DAYS_{name.upper()}", default) for name in CONTRACTS}
    for part in ("quarantine", "outbox", "receipts"):
        found[part] = settings.int_setting(f"HOURGLASS_RETENTION_{part.upper()}_DAYS", DEFAULTS[part])
    return found


def _partitions(dataset: Path) -> list[tuple[date, Path]]:
    found = []
    for folder in dataset.glob(f"{lake.PARTITION_COLUMN}=*") if dataset.exists() else []:
        try:
            found.append((date.fromisoformat(folder.name.split("=", 1)[1]), folder))
        except ValueError:
            continue
    return sorted(found)


def _remove_dir(folder: Path) -> None:
    """Out of readers' sight by one rename (lake.recover clears a leftover .tmp- folder), then deleted."""
    hidden = folder.with_name(f".tmp-retention-{uuid.uuid4().hex[:8]}")
    folder.rename(hidden)
    shutil.rmtree(hidden)


def _expire(dataset: Path, days: int, today: date, keep_newest: bool) -> list[str]:
    if days <= 0:
        return []
    parts = _partitions(dataset)
    if keep_newest:
        parts = parts[:-1]
    removed = []
    for day, folder in parts:
        if day == lake.STUB_DAY or day >= today - timedelta(days=days):
            continue
        _remove_dir(folder)
        removed.append(day.isoformat())
    return removed


def _expire_files(folder: Path, pattern: str, days: int, today: date) -> int:
    """Files whose name holds a date older than the period."""
    if days <= 0 or not folder.exists():
        return 0
    removed = 0
    for path in folder.rglob(pattern):
        found = _DAY.search(path.name)
        if path.is_file() and found and date.fromisoformat(found.group(1)) < today - timedelta(days=days):
            path.unlink()
            removed += 1
    return removed


def run(asked_by: str | None = None) -> Removed:
    """Remove everything older than its period; the audit log records the dates and counts."""
    today, days, removed = settings.as_of_date(), periods(), Removed()
    for source in CONTRACTS:
        expired = _expire(lake.raw_dataset(source), days[source], today, keep_newest=True)
        if expired:
            removed.partitions[f"raw/{source}"] = expired
            landing = settings.landing_dir() / source
            gone = [p for p in landing.glob("*") if p.is_file() and any(d in p.name for d in expired)]
            for path in gone:
                path.unlink()
            removed.files[f"landing/{source}"] = len(gone)
        if expired := _expire(lake.quarantine_dataset(source), days["quarantine"], today, keep_newest=False):
            removed.partitions[f"quarantine/{source}"] = expired
    if expired := _expire(lake.raw_dataset(RECEIPTS), days["receipts"], today, keep_newest=False):
        removed.partitions[f"raw/{RECEIPTS}"] = expired
    removed.files["outbox"] = _expire_files(places.outbox_dir(), "*.jsonl", days["outbox"], today)
    removed.files["ads"] = _expire_files(places.ads_dir(), "*", days["outbox"], today)
    removed.files = {k: v for k, v in removed.files.items() if v}
    audit.record("retention", asked_by=asked_by, periods=days, removed_partitions=removed.partitions,
                 removed_files=removed.files, **removed.counts())  # fmt: skip
    return removed
