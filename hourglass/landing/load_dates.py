"""Landing files by load date -> lake partitions and their quarantine, with a record of what was loaded.

A load date's files replace its partition whole (and its quarantine's), or, where one of them cannot be loaded
at all, leave the lake as it was. Each partition keeps the names, sizes and times of the files it came from and
their counts (`_files.json`): an unchanged load date is not loaded again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hourglass import lake, settings
from hourglass.landing.checked_rows import BAD_SCHEMA, Written, write_rows
from hourglass.landing.contract_sql import (
    RAW_FIELDS,
    RAW_LINE,
    REASON,
    REPEATED_KEYS,
    ROW,
    check_query,
    empty_rows_sql,
    keeps_file_order,
    key_columns,
    repeated_keys,
    sql_str,
)
from hourglass.privacy import scrub, suppression
from hourglass.sources import RESERVED_PREFIX, SourceContract

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
# A source column may not take the names of the columns the lake adds (nor start with RESERVED_PREFIX).
_LAKE_COLUMNS = (lake.PARTITION_COLUMN, lake.SOURCE_FILE_COLUMN)
_CHECKED = "suppression_checked"  # in _files.json: the suppression list's version the files were checked against


class LandingError(ValueError):
    """A landing file that cannot be loaded at all."""


@dataclass
class LoadResult:
    source: str
    load_date: date
    files: list[str] = field(default_factory=list)
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_erased: int = 0  # rows of forgotten people, left out of the landing file before loading (privacy/)
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class LandingFiles:
    """A source's landing files by load date, and those refused for their name, each with its error."""

    by_date: dict[date, list[Path]] = field(default_factory=dict)
    refused: dict[Path, LandingError] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        return sorted([*(f for files in self.by_date.values() for f in files), *self.refused])


def landing_files(source: str) -> LandingFiles:
    """Landing files of a source grouped by load date: the date in the file name, else its modification day.

    A name holding an impossible date (2026-02-31) refuses that file alone: guessing its day could replace
    another load date's partition.
    """
    folder = settings.landing_dir() / source
    found = LandingFiles()
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        match = _DATE_IN_NAME.search(path.name)
        try:
            day = date.fromisoformat(match.group(1)) if match else datetime.fromtimestamp(path.stat().st_mtime).date()
        except ValueError as exc:
            found.refused[path] = LandingError(
                f"{path}: {match.group(1)} in the file name is not a real date ({exc}); rename the file to its "
                "load date"
            )
            continue
        found.by_date.setdefault(day, []).append(path)
    return found


def _header(path: Path, contract: SourceContract) -> list[str]:
    """The names in the first line, read strictly: where DuckDB meets a quote out of place in the header (`""a`,
    `"a"b`, a quote left open) it returns no rows at all and reports no error, so such a header is refused here."""
    encoding = "utf-8-sig" if contract.encoding == "utf-8" else contract.encoding
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            first = next(csv.reader(io.StringIO(fh.readline()), delimiter=contract.delimiter, strict=True), [])
    except UnicodeDecodeError as exc:
        raise LandingError(
            f"{path}: the header line is not {contract.encoding} ({exc.reason} at byte {exc.start})"
        ) from exc
    except csv.Error as exc:
        raise LandingError(f"{path}: the header line is malformed: its quotes do not pair up ({exc})") from exc
    return [name.strip() for name in first]


def _check_structure(path: Path, contract: SourceContract) -> list[str]:
    """The header's column names, those the contract knows spelled as it does; a LandingError where the file
    cannot be loaded.

    Names are compared ignoring case, as SQL compares them. The errors quote the contract's column names and
    reserved ones only; any other name is given by its place in the header, as it may be a value: the first
    line of a file without a header, or a header merged with a row.
    """
    header = _header(path, contract)
    spelled = {c.name.lower(): c.name for c in contract.columns}
    if not any(name.lower() in spelled for name in header):
        required = ", ".join(contract.required)
        raise LandingError(
            f"{path}: no header line, or one naming none of the contract's columns (it needs {required})"
        )
    for i, name in enumerate(header, start=1):
        if not name:
            raise LandingError(f"{path}: header column {i} has no name")
        # A quote, the delimiter or a control character in a name means the header line itself is broken.
        if '"' in name or contract.delimiter in name or not name.isprintable():
            raise LandingError(f"{path}: header column {i} is malformed (a quote, delimiter or control character)")
        if name.lower().startswith(RESERVED_PREFIX.lower()) or name.lower() in _LAKE_COLUMNS:
            raise LandingError(
                f"{path}: column '{name}' is reserved (the loader's own columns start with {RESERVED_PREFIX}; "
                f"{' and '.join(_LAKE_COLUMNS)} are the lake's); rename it in the export"
            )
    places: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        places.setdefault(name.lower(), []).append(i)
    for name, at in places.items():
        if len(at) > 1 and name in spelled:
            spellings = " and ".join(f"'{header[i - 1]}'" for i in at)
            raise LandingError(
                f"{path}: column '{spelled[name]}' appears twice in the header, as {spellings} (names are "
                "compared ignoring case)"
            )
        if len(at) > 1:
            raise LandingError(f"{path}: header columns {' and '.join(map(str, at))} have the same name")
    header = [spelled.get(name.lower(), name) for name in header]
    for name in contract.required:
        if name not in header:
            raise LandingError(f"{path}: required column '{name}' is missing from the header")
    return header


def _load_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    contract: SourceContract,
    rows_out: Path,
    quarantine_out: Path,
    result: LoadResult,
) -> None:
    known = {c.name: c for c in contract.columns}
    present = [known[name] for name in header if name in known]
    key = key_columns(contract, present)
    try:
        repeated = repeated_keys(con, path, header, key, contract) if key else None
        # Unreadable lines the key pass (or an earlier file) recorded; the check query records this file's again.
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
        key = key if repeated is not None else []
        # Numbered as the rows arrive only where DuckDB's plan keeps the file's order; else by a window.
        query = check_query(path, header, contract, present, key, numbered=bool(key))
        numbered = bool(key) or not keeps_file_order(con, query)
        if numbered and not key:
            query = check_query(path, header, contract, present, key, numbered=True)
        with _registered(con, REPEATED_KEYS, repeated):
            written = write_rows(con.sql(query), rows_out, path.name, key, contract, numbered)
    except duckdb.InvalidInputException as exc:  # e.g. line endings mixed within the file
        first = str(exc).splitlines()[0]
        raise LandingError(f"{path}: the CSV parser gave up on this file, nothing of it was loaded: {first}") from exc
    _refuse_lines_run_together(con, path)
    _write_quarantine(con, path, written, quarantine_out, result)


def _refuse_lines_run_together(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse the file where a line the reader could not split runs over line breaks.

    That is a quote opened and not closed where its field ends: the reader took the lines after it as one
    value, up to a later quote or the end of the file. Which of those lines were rows cannot be known, so no
    count of them would be honest; quarantined as one line, they were silently neither loaded nor quarantined
    (and their customers kept older versions, consent included). Refused, nothing is lost: the lake keeps what
    it had and the file can be delivered again. A broken last line is one line and stays quarantined.
    """
    found = con.execute(
        "select line, error_type from reject_errors "
        "where regexp_matches(trim(csv_line, chr(13) || chr(10)), '[\\r\\n]') order by line limit 1"
    ).fetchone()
    if found:
        line, error = found
        raise LandingError(
            f"{path}: from row {line - 1} on, a quote that does not close where its field ends runs over line "
            f"breaks ({error}); the lines it takes in cannot be told apart as rows, so the file was refused and "
            "nothing of it was loaded"
        )


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table | None) -> Iterator[None]:
    """The Arrow table as a view `name` while the block runs; nothing where there is no table."""
    if table is None:
        yield
        return
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)


def _write_quarantine(con, path: Path, written: Written, quarantine_out: Path, result: LoadResult) -> None:
    """Quarantined rows and unreadable lines to the quarantine file; the counts to the result."""
    file_lit = sql_str(path.name)
    bad_rows = pa.Table.from_batches(written.bad, schema=BAD_SCHEMA)
    con.register("bad_rows", bad_rows)
    con.execute(
        f"""
        copy (
            select {file_lit} as source_file, {ROW} as row_number, cast(null as bigint) as line,
                   {REASON} as reason, {RAW_LINE} as raw_line, {RAW_FIELDS} as raw_fields
            from bad_rows
            union all
            -- reject_errors.line is unsigned: with the bigint above it would make a HUGEINT, which Parquet stores
            -- as a double, and Spark does not merge that with the bigint of other files
            select {file_lit}, null, cast(line as bigint),
                   'unreadable line: ' || error_type || ' (' || error_message || ')',
                   trim(csv_line, chr(13) || chr(10)), null
            from reject_errors qualify row_number() over (partition by line order by byte_position) = 1
        ) to {sql_str(str(quarantine_out))} (format parquet)
        """
    )
    unreadable = con.execute("select count(distinct line) from reject_errors").fetchone()[0]
    for reason, n in con.execute(
        f"select {REASON}, count(*) from bad_rows group by 1 "
        "union all select 'unreadable line: ' || error_type, count(distinct line) from reject_errors group by 1"
    ).fetchall():
        result.reasons[reason] = result.reasons.get(reason, 0) + n
    con.unregister("bad_rows")
    result.rows_loaded += written.loaded
    result.rows_quarantined += bad_rows.num_rows + unreadable
    result.rows_in += written.loaded + bad_rows.num_rows + unreadable


# A quarantine file: each bad row's file, row number (or line, for a line the reader could not split), reason,
# raw line and raw fields by column name (none for an unsplit line).
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("row_number", pa.int64()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw_line", pa.string()),
        ("raw_fields", pa.map_(pa.string(), pa.string())),
    ]
)


def fingerprint(files: list[Path]) -> list[list]:
    """What identifies a set of landing files: names, sizes and modification times."""
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def load_date(contract: SourceContract, day: date, files: list[Path], force: bool = False) -> LoadResult:
    """Load every landing file of one load date into the lake, replacing that partition.

    Rows of people on the suppression list (forgotten) are first removed from the landing files themselves and
    counted as erased: rows in = rows loaded + rows quarantined + rows erased.
    """
    result = LoadResult(source=contract.name, load_date=day, files=[f.name for f in files])
    marker = lake.partition_dir(lake.raw_dataset(contract.name), day) / "_files.json"
    stored = json.loads(marker.read_text()) if marker.exists() else None
    suppressed = suppression.current()
    # Files unchanged since they were checked against this version of the list need no second look.
    if suppressed and not (
        stored and stored["files"] == fingerprint(files) and stored.get(_CHECKED) == suppressed.version
    ):
        result.rows_erased = sum(scrub.scrub_file(f, contract, suppressed.hashes) for f in files)
    files_print = fingerprint(files)
    if not force and stored and stored["files"] == files_print:
        for key in ("rows_in", "rows_loaded", "rows_quarantined", "reasons"):
            setattr(result, key, stored[key])
        result.rows_erased = stored.get("rows_erased", 0)
        result.skipped = True
        if suppressed and stored.get(_CHECKED) != suppressed.version:
            scrub.write_atomically(marker, json.dumps({**stored, _CHECKED: suppressed.version}).encode())
        return result

    headers = {f: _check_structure(f, contract) for f in files if f.stat().st_size > 0}
    datasets = [lake.raw_dataset(contract.name), lake.quarantine_dataset(contract.name)]
    with lake.replacing_partitions(datasets, day) as (rows_dir, quarantine_dir), duckdb.connect() as con:
        for f, header in headers.items():
            _load_one(
                con, f, header, contract, rows_dir / f"{f.stem}.parquet", quarantine_dir / f"{f.stem}.parquet", result
            )
        if not headers:  # only empty files: the day still has a (zero-row) table
            _write_empty(con, contract, rows_dir / "empty.parquet")
        result.rows_in += result.rows_erased
        (rows_dir / "_files.json").write_text(
            json.dumps(
                {
                    "files": files_print,
                    "rows_in": result.rows_in,
                    "rows_loaded": result.rows_loaded,
                    "rows_quarantined": result.rows_quarantined,
                    "rows_erased": result.rows_erased,
                    "reasons": result.reasons,
                    _CHECKED: suppressed.version,
                }
            )
        )
    return result


def ensure_not_missing(contract: SourceContract) -> None:
    """A source that has delivered nothing yet is an empty table downstream, not a missing one.

    Writes one zero-row partition with the contract's columns and types, dated HOURGLASS_AS_OF_DATE; the
    first real load of that date replaces it. Its quarantine always holds a zero-row file with today's columns
    (dated 1970-01-01, as the receipts' is): consent reads the quarantine, also where nothing was ever
    quarantined or every file predates a column.
    """
    rows = lake.raw_dataset(contract.name)
    if not lake.has_files(rows):
        lake.ensure_table(rows, settings.as_of_date(), duckdb.sql(empty_rows_sql(contract)).to_arrow_table())
    stub = lake.partition_dir(lake.quarantine_dataset(contract.name), lake.STUB_DAY) / "empty.parquet"
    if not stub.exists() or pq.read_schema(stub) != QUARANTINE_SCHEMA:
        with lake.replacing_partitions([lake.quarantine_dataset(contract.name)], lake.STUB_DAY) as (staging,):
            pq.write_table(QUARANTINE_SCHEMA.empty_table(), staging / "empty.parquet")


def _write_empty(con: duckdb.DuckDBPyConnection, contract: SourceContract, path: Path) -> None:
    """A zero-row Parquet file with the contract's columns and types."""
    con.execute(f"copy ({empty_rows_sql(contract)}) to {sql_str(str(path))} (format parquet)")


def load_source(contract: SourceContract, force: bool = False) -> list[LoadResult]:
    """Load every load date found in the source's landing folder; unchanged ones are skipped.

    A file refused for its name or a load date that fails does not stop the others: their errors are raised
    together once the rest is loaded.
    """
    found = landing_files(contract.name)
    results, errors = [], list(found.refused.values())
    for day, files in sorted(found.by_date.items()):
        try:
            results.append(load_date(contract, day, files, force))
        except LandingError as exc:
            errors.append(exc)
    if errors:
        raise LandingError("\n".join(map(str, errors))) from errors[0]
    ensure_not_missing(contract)
    return results
