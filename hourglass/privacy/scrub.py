"""A landing file -> the same file without the rows of suppressed people, byte for byte otherwise.

The file is cut into records the way a CSV reader does (a line break inside quotes belongs to the field), each
record's fields are read with the contract's delimiter, and the records whose identifiers are on the suppression
list are left out. Everything else, dirty rows included, is written back exactly as delivered, beside the file,
fsynced and renamed over it: the loader then reads what it always reads, minus those people.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import duckdb
import pyarrow as pa

from hourglass.privacy import identifiers as ids
from hourglass.privacy import suppression as sup
from hourglass.sources import SourceContract


def _records(text: str) -> list[str]:
    """The text cut into records, each with its line break: a line whose quotes do not pair up continues on the
    next. A quote left open up to the end stays one record (the loader refuses such a file anyway)."""
    records, pending, quotes = [], [], 0
    lines = text.split("\n")  # not splitlines(): it also breaks at \r, \x1c and others, which CSV does not
    for i, line in enumerate(lines):
        line += "\n" if i < len(lines) - 1 else ""
        if not line:
            continue
        pending.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append("".join(pending))
            pending, quotes = [], 0
    if pending:
        records.append("".join(pending))
    return records


def _fields(record: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([record.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error:
        return []


def matching_records(
    con: duckdb.DuckDBPyConnection, contract: SourceContract, header: list[str], records: list[str]
) -> list[bool]:
    """For each record, whether it is a suppressed person's (sup.prepare() ran on `con`)."""
    identity = ids.identity_sources().get(contract.name)
    if identity is None or not records:
        return [False] * len(records)
    wanted = {identity.key, *identity.identifiers.values(), ids.country_column(contract.name) or identity.key}
    places = {name.strip().lower(): i for i, name in enumerate(header)}
    rows = [_fields(r, contract.delimiter) for r in records]
    columns = {}
    for column in wanted:
        at = places.get(column.lower())
        if at is not None:
            columns[column] = pa.array([row[at] if at < len(row) else None for row in rows], pa.string())
    if not columns:
        return [False] * len(records)
    con.register("hg_landing_records", pa.table(columns))
    try:
        query = f"select {sup.row_matches(contract.name, columns)} from hg_landing_records"
        return [bool(x) for (x,) in con.execute(query).fetchall()]  # a plain projection keeps the rows' order
    finally:
        con.unregister("hg_landing_records")


def scrub_file(path: Path, contract: SourceContract, hashes: frozenset[str]) -> int:
    """Remove the suppressed people's rows from one landing file; how many rows were removed."""
    encoding = "utf-8" if contract.encoding == "utf-8" else contract.encoding  # a byte-order mark stays in place
    data = path.read_bytes()
    if not hashes or not data:
        return 0
    text = data.decode(encoding, errors="surrogateescape")
    records = _records(text)
    if len(records) < 2:
        return 0
    header = [name.lstrip("\ufeff") for name in _fields(records[0], contract.delimiter)]
    with duckdb.connect() as con:
        sup.prepare(con, hashes)
        theirs = matching_records(con, contract, header, records[1:])
    removed = sum(theirs)
    if removed:
        kept = [records[0], *(r for r, drop in zip(records[1:], theirs, strict=True) if not drop)]
        write_atomically(path, "".join(kept).encode(encoding, errors="surrogateescape"))
    return removed


def write_atomically(path: Path, data: bytes) -> None:
    """`data` as the new content of `path`: written beside it (a hidden name no reader picks up), fsynced, renamed
    over it, and the folder fsynced, so a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.privacy.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
