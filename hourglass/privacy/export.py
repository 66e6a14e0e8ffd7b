"""Access (art. 15): a person -> one JSON file of everything hourglass holds on them.

The same test of "this row is theirs" as erasure (rows.py) reads: their source records in the lake and its
quarantine, every warehouse table (the customer view, segments, identity, metrics), the audiences they are in,
the messages the ledger and the outbox hold for them and their receipts.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from hourglass import lake, settings
from hourglass.privacy import audit, places, rows, scrub
from hourglass.privacy.person import Person, resolve
from hourglass.sources import CONTRACTS


def collect(person: Person) -> dict[str, Any]:
    messages = _ledger(person)
    found: dict[str, Any] = {
        "customer_keys": sorted(person.customer_keys),
        "records": [{"record_id": r, "source": s, "source_key": k} for r, s, k in sorted(person.records)],
        "source_records": {},
        "quarantined_records": {},
        "warehouse": {},
        "audiences": {},
        "messages": messages,
        "outbox": _outbox(person, {m["key"] for m in messages}),
    }
    keys = [m["key"] for m in messages]
    with duckdb.connect() as con:
        rows.prepare(con, person, keys)
        for source in CONTRACTS:
            for quarantine, dataset in ((False, lake.raw_dataset(source)), (True, lake.quarantine_dataset(source))):
                theirs = (
                    _parquet_rows(con, lake.files_glob(dataset), source, quarantine) if lake.has_files(dataset) else []
                )
                if theirs:
                    found["quarantined_records" if quarantine else "source_records"][source] = theirs
        receipts = lake.raw_dataset("activation_receipts")
        found["receipts"] = _parquet_rows(con, lake.files_glob(receipts)) if lake.has_files(receipts) else []
        for name, glob in settings.audience_exports().items():
            if theirs := _parquet_rows(con, glob, hive=False):
                found["audiences"][name] = theirs
    found["warehouse"] = _warehouse(person, keys)
    return found


def _parquet_rows(con, glob: str, source: str | None = None, quarantine: bool = False, hive: bool = True) -> list:
    relation = f"read_parquet('{glob}', union_by_name = true, hive_partitioning = {str(hive).lower()})"
    columns = [c for (c, *_) in con.execute(f"describe select * from {relation}").fetchall()]
    test = rows.matches(columns, source, quarantine)
    if test is None:
        return []
    result = con.execute(f"select * from {relation} where {test}")
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _warehouse(person: Person, keys: list[str]) -> dict[str, list]:
    path = settings.warehouse_path()
    if not path.exists():
        return {}
    found = {}
    with duckdb.connect(str(path), read_only=True) as con:
        rows.prepare(con, person, keys)
        relations = con.execute(
            "select table_name from duckdb_tables() where not internal"
            " union select view_name from duckdb_views() where not internal and view_name in ('customer_360',"
            " 'customer_segments')"
        ).fetchall()
        for (name,) in sorted(relations):
            columns = [c for (c, *_) in con.execute(f'describe "{name}"').fetchall()]
            test = rows.matches(columns)
            if test is None:
                continue
            result = con.execute(f'select * from "{name}" where {test}')
            names = [d[0] for d in result.description]
            if theirs := [dict(zip(names, row, strict=True)) for row in result.fetchall()]:
                found[name] = theirs
    return found


def _ledger(person: Person) -> list[dict[str, Any]]:
    path = settings.ledger_path()
    if not person.customer_keys or not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        marks = ",".join("?" * len(person.customer_keys))
        found = con.execute(
            "select key, campaign, customer_key, channel, send_window, status, reason, attempts, updated_at"
            f" from messages where customer_key in ({marks}) order by send_window, campaign",
            sorted(person.customer_keys),
        ).fetchall()
    return [dict(row) for row in found]


def _outbox(person: Person, keys: set[str]) -> list[dict[str, Any]]:
    folder, found = places.outbox_dir(), []
    for path in sorted(folder.rglob("*.jsonl")) if folder.exists() else []:
        for line in path.read_bytes().splitlines():
            record = json.loads(line)
            if record.get("key") in keys or record.get("customer_key") in person.customer_keys:
                found.append({"file": str(path.relative_to(folder)), **record})
    return found


def export_person(option: str, value: str, out: Path, reason: str | None = None, asked_by: str | None = None) -> dict:
    """Write everything held on the person to `out` (JSON); the audit log records counts, not the content."""
    person = resolve(option, value)
    found = {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"), **collect(person)}
    scrub.write_atomically(out, json.dumps(found, indent=2, default=str, ensure_ascii=False).encode())
    counts = {
        "source_records": sum(len(v) for v in found["source_records"].values()),
        "quarantined_records": sum(len(v) for v in found["quarantined_records"].values()),
        "warehouse_rows": sum(len(v) for v in found["warehouse"].values()),
        "audiences": len(found["audiences"]),
        "messages": len(found["messages"]),
        "receipts": len(found["receipts"]),
    }
    entry = audit.record("export_person", asked_by=asked_by, reason=reason, asked_with=option, found=person.counts(),
                         exported=counts)  # fmt: skip
    return {"audit_id": entry["id"], **person.counts(), **counts}
