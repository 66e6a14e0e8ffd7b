"""Erasure (art. 17): a person -> every file under HOURGLASS_HOME without them, and a suppression entry.

In this order, so that a crash part-way leaves them suppressed and a second run finishes the job: the person's
hashed identifiers are added to the suppression list; then the landing files, every Parquet file of the lake
(source partitions, quarantine, model hand-offs, audiences, receipts), the warehouse, the outbox and the ad files
are rewritten without them; the ledger keeps their message keys under a salted hash instead of their customer key.
Each file is written beside the original, fsynced and renamed over it; the warehouse is copied into a fresh file
so that deleted rows do not linger in its free blocks.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hourglass import ledger, settings
from hourglass.privacy import audit, places, rows, scrub, suppression
from hourglass.privacy import identifiers as ids
from hourglass.privacy.person import Person, resolve
from hourglass.sources import CONTRACTS


def forget(option: str, value: str, reason: str | None = None, asked_by: str | None = None) -> dict[str, Any]:
    """Forget the person `option` (email, phone, customer_id) = `value` names; what was removed, as counts."""
    person = resolve(option, value)
    suppression.add(person.hashes)
    message_keys = ledger.forget_customers(
        settings.ledger_path(), person.customer_keys, lambda key: "forgotten:" + ids.hashed(f"customer_key:{key}")[:32]
    )
    removed = {
        "landing_rows": landing_files(person),
        "lake_rows": parquet_files(settings.lake_dir(), person, message_keys),
        # HOURGLASS_ENGINE=spark: the cluster's tables are Parquet files under HOURGLASS_HOME/spark/
        "spark_rows": parquet_files(settings.home() / "spark", person, message_keys),
        "warehouse_rows": warehouse(person, message_keys),
        "outbox_messages": outbox(person, message_keys),
        "ad_rows": ad_files(message_keys),
        "ledger_messages_pseudonymised": len(message_keys),
    }
    entry = audit.record("forget", asked_by=asked_by, reason=reason, asked_with=option, found=person.counts(),
                         removed=removed)  # fmt: skip
    return {"audit_id": entry["id"], **person.counts(), **removed}


def landing_files(person: Person) -> int:
    from hourglass.landing import landing_files as found

    return sum(
        scrub.scrub_file(path, contract, frozenset(person.hashes))
        for contract in CONTRACTS.values()
        for path in found(contract.name).files
    )


def _visible(path: Path, root: Path) -> bool:
    """Not in a hidden staging folder or file (a load in progress swaps those in itself)."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def parquet_files(root: Path, person: Person, message_keys: list[str]) -> int:
    """Every Parquet file under `root` rewritten without the person's rows; how many rows went."""
    removed = 0
    if not root.exists():
        return 0
    with duckdb.connect() as con:
        rows.prepare(con, person, message_keys)
        for path in sorted(root.rglob("*.parquet")):
            if not path.is_file() or not _visible(path, root):
                continue
            source, quarantine = rows.dataset_of(path)
            columns = pq.read_schema(path).names
            test = rows.matches(columns, source, quarantine)
            if test is None:
                continue
            table = rows.read_parquet(path)
            theirs = rows.mask(con, table, test)
            n = pc.sum(theirs).as_py() or 0
            if n:
                tmp = path.with_name(f".{path.name}.privacy.tmp")
                pq.write_table(table.filter(pc.invert(theirs)), tmp)
                _fsync(tmp)
                os.replace(tmp, path)
                scrub.fsync_dir(path.parent)
                removed += n
    return removed


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def warehouse(person: Person, message_keys: list[str]) -> int:
    """The person's rows deleted from every table of the warehouse, which is then copied into a fresh file."""
    path = settings.warehouse_path()
    if not path.exists():
        return 0
    removed = 0
    with duckdb.connect(str(path)) as con:
        rows.prepare(con, person, message_keys)
        tables = con.execute(
            "select database_name, schema_name, table_name from duckdb_tables() where not internal and not temporary"
        ).fetchall()
        for database, schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() where database_name = ? and schema_name = ?"
                    " and table_name = ?",
                    [database, schema, table],
                ).fetchall()
            ]
            test = rows.matches(columns)  # staging tables too: their columns are named as the source's
            if test is not None:
                removed += con.execute(f'delete from "{database}"."{schema}"."{table}" where {test}').fetchall()[0][0]
        if removed:
            _compact(con, path)
    if removed:
        os.replace(path.with_name(f".{path.name}.privacy.tmp"), path)
        scrub.fsync_dir(path.parent)
    return removed


def _compact(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Copy the database into a fresh file beside it (renamed over it once `con` is closed): DuckDB reuses the
    blocks of deleted rows but does not clear them."""
    fresh = path.with_name(f".{path.name}.privacy.tmp")
    fresh.unlink(missing_ok=True)
    name = con.execute("select current_database()").fetchall()[0][0]
    con.execute(f"attach '{fresh}' as hg_fresh")
    con.execute(f'copy from database "{name}" to hg_fresh')
    con.execute("detach hg_fresh")
    _fsync(fresh)


def outbox(person: Person, message_keys: list[str]) -> int:
    """Outbox files (JSON lines) without the person's messages; each rewritten under the writers' lock."""
    keys, customers, removed = set(message_keys), person.customer_keys, 0
    folder = places.outbox_dir()
    for path in sorted(folder.rglob("*.jsonl")) if folder.exists() else []:
        with path.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            lines = fh.read().splitlines(keepends=True)
            kept = [line for line in lines if not _theirs(line, keys, customers)]
            if len(kept) != len(lines):
                scrub.write_atomically(path, b"".join(kept))
                removed += len(lines) - len(kept)
    return removed


def _theirs(line: bytes, keys: set[str], customers: set[str]) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return record.get("key") in keys or record.get("customer_key") in customers


def ad_files(message_keys: list[str]) -> int:
    """Ad-audience files without the person's rows: the staged rows lose their keys, the upload file is written
    again from what remains."""
    from hourglass.channels.ads import PLATFORMS, AdAudienceSender

    folder, keys, removed = places.ads_dir(), set(message_keys), 0
    for staged in sorted(folder.rglob(".*.staged.jsonl")) if folder.exists() else []:
        platform = staged.relative_to(folder).parts[0]
        lines = staged.read_bytes().splitlines(keepends=True)
        kept = [line for line in lines if not _theirs(line, keys, set())]
        if len(kept) == len(lines) or platform not in PLATFORMS:
            continue
        scrub.write_atomically(staged, b"".join(kept))
        removed += len(lines) - len(kept)
        target = staged.with_name(staged.name.removeprefix(".").removesuffix(".staged.jsonl") + ".csv")
        AdAudienceSender(platform, target).finish()
    return removed
