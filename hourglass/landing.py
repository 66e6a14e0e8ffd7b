"""Landing files -> lake partitions, checked against the source's contract.

Every file is read as text, then each row is checked column by column. A row that breaks a rule goes to
the quarantine dataset with its reason and its raw fields; a line the CSV reader cannot split (wrong field
count, broken quoting, bad encoding) goes there too. rows in = rows loaded + rows quarantined, always.
A structural problem (a required column missing from the header) fails the whole load date and names the
file and the column; the lake keeps what it had.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from hourglass import lake, settings
from hourglass.sources import Column, SourceContract

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
TYPED = ("integer", "decimal", "date", "timestamp", "boolean")
_TRUE = "('true', '1', 'yes', 'ja', 'j', 'y')"
_FALSE = "('false', '0', 'no', 'nee', 'n')"


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
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: bool = False


def landing_files(source: str) -> dict[date, list[Path]]:
    """Landing files of a source grouped by load date: the date in the file name, else its modification day."""
    folder = settings.landing_dir() / source
    grouped: dict[date, list[Path]] = {}
    if not folder.is_dir():
        return grouped
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        match = _DATE_IN_NAME.search(path.name)
        day = date.fromisoformat(match.group(1)) if match else datetime.fromtimestamp(path.stat().st_mtime).date()
        grouped.setdefault(day, []).append(path)
    return grouped


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _typed(col: Column, contract: SourceContract) -> str:
    """SQL turning the text column into its logical type; NULL where the value does not parse.

    ISO dates and timestamps take DuckDB's cast, Dutch ones strptime with their one matching format.
    """
    v = f"nullif(trim(\"{col.name}\"), '')"
    if col.type == "integer":
        return f"try_cast({v} as bigint)"
    if col.type == "decimal":
        if contract.decimal == ",":
            v = f"replace(replace({v}, '.', ''), ',', '.')"
        return f"try_cast({v} as decimal(18, 2))"
    # Dutch day-month-year has its first dash at position 3, ISO at 5: each value is parsed by one route.
    dutch = f"substr({v}, 3, 1) = '-'"
    if col.type == "date":
        return f"case when {dutch} then cast(try_strptime({v}, '%d-%m-%Y') as date) else try_cast({v} as date) end"
    if col.type == "timestamp":
        return (
            f"case when {dutch} and length({v}) = 16 then try_strptime({v}, '%d-%m-%Y %H:%M') "
            f"when {dutch} then try_strptime({v}, '%d-%m-%Y %H:%M:%S') else try_cast({v} as timestamp) end"
        )
    if col.type == "boolean":
        return f"case when lower({v}) in {_TRUE} then true when lower({v}) in {_FALSE} then false end"
    raise ValueError(f"{col.type} is not a typed column")


def _typed_name(col: Column) -> str:
    return f"__typed_{col.name}"


def _value(col: Column) -> str:
    """How SQL over the checked rows refers to a column's value: its typed form where it has one."""
    return f'"{_typed_name(col)}"' if col.type in TYPED else f'"{col.name}"'


def _problem(col: Column) -> str:
    """SQL giving the reason a value is unacceptable, or NULL; typed columns are already converted."""
    raw = f"nullif(trim(\"{col.name}\"), '')"
    checks = []
    if col.required:
        checks.append((f"{raw} is null", f"missing required value in {col.name}"))
    if col.type in TYPED:
        checks.append((f"{raw} is not null and {_value(col)} is null", f"not a valid {col.type} in {col.name}"))
    if col.min_value is not None:
        checks.append((f"{_value(col)} < {col.min_value}", f"{col.name} below {col.min_value:g}"))
    if col.max_value is not None:
        checks.append((f"{_value(col)} > {col.max_value}", f"{col.name} above {col.max_value:g}"))
    if col.type == "email":
        checks.append((f"{raw} is not null and not regexp_matches({raw}, '{_EMAIL}')", f"invalid e-mail in {col.name}"))
    return _first_reason(checks)


def _first_reason(checks: list[tuple[str, str]]) -> str:
    if not checks:
        return "null"
    return "case " + " ".join(f"when {cond} then {_sql_str(reason)}" for cond, reason in checks) + " end"


def _row_problems(contract: SourceContract, present: list[Column]) -> list[str]:
    """The contract's row rules over the columns this file has (a rule naming a missing column is skipped)."""
    values = {c.name: _value(c) for c in present}
    checks = []
    for condition, reason in contract.rules:
        try:
            checks.append((f"coalesce({condition.format(**values)}, false)", reason))
        except KeyError:
            continue
    if not contract.duplicate_keys_allowed and all(k in values for k in contract.key):
        key = ", ".join(values[k] for k in contract.key)
        reason = f"duplicate of an earlier {'/'.join(contract.key)}"
        checks.append((f"row_number() over (partition by {key} order by _row) > 1", reason))
    return [_first_reason(checks)] if checks else []


def _header(path: Path, contract: SourceContract) -> list[str]:
    encoding = "utf-8-sig" if contract.encoding == "utf-8" else contract.encoding
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            first = next(csv.reader(io.StringIO(fh.readline()), delimiter=contract.delimiter), [])
    except UnicodeDecodeError as exc:
        raise LandingError(
            f"{path}: the header line is not {contract.encoding} ({exc.reason} at byte {exc.start})"
        ) from exc
    return [name.strip() for name in first]


def _check_structure(path: Path, contract: SourceContract) -> list[str]:
    header = _header(path, contract)
    unnamed = [i + 1 for i, name in enumerate(header) if not name]
    if unnamed:
        raise LandingError(f"{path}: header column {unnamed[0]} has no name (header has: {', '.join(header)})")
    # A quote, the delimiter or a control character in a name means the header line itself is broken.
    broken = [n for n in header if '"' in n or contract.delimiter in n or not n.isprintable()]
    if broken:
        raise LandingError(f"{path}: the header is malformed at column {broken[0]!r}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise LandingError(f"{path}: column '{duplicated[0]}' appears twice in the header")
    for name in contract.required:
        if name not in header:
            raise LandingError(f"{path}: required column '{name}' is missing (header has: {', '.join(header)})")
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
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    known = {c.name: c for c in contract.columns}
    present = [known[name] for name in header if name in known]
    extra = [name for name in header if name not in known]
    conversions = "".join(f', {_typed(c, contract)} as "{_typed_name(c)}"' for c in present if c.type in TYPED)
    problems = ", ".join([_problem(c) for c in present] + _row_problems(contract, present)) or "null"
    loaded_columns = [f'"{_typed_name(c)}" as "{c.name}"' if c.type in TYPED else f'"{c.name}"' for c in present]
    loaded_columns += [f'"{name}"' for name in extra]  # columns the contract does not know travel as text
    raw_line = f" || {_sql_str(contract.delimiter)} || ".join(f"coalesce(\"{n}\", '')" for n in header)
    # Each value is converted once; the row's first problem becomes its quarantine reason. Only quarantined
    # rows keep their raw text, so the table holds one copy of the data.
    try:
        _check_rows(con, path, header, contract, loaded_columns, conversions, problems, raw_line)
    except duckdb.InvalidInputException as exc:  # e.g. line endings mixed within the file
        first = str(exc).splitlines()[0]
        raise LandingError(f"{path}: the CSV parser gave up on this file, nothing of it was loaded: {first}") from exc
    _write_checked(con, path, contract, rows_out, quarantine_out, result)


def _check_rows(con, path, header, contract, loaded_columns, conversions, problems, raw_line) -> None:
    con.execute(
        f"""
        create or replace temp table checked as
        select {", ".join(loaded_columns)}, _row, _reason,
               case when _reason is not null then {raw_line} end as _raw_line
        from (
            select *, coalesce({problems}) as _reason
            from (
                select *{conversions}, row_number() over () as _row
                from read_csv({_sql_str(str(path))}, header = true, all_varchar = true,
                    delim = {_sql_str(contract.delimiter)}, quote = '"', escape = '"',
                    encoding = {_sql_str(contract.encoding)}, strict_mode = true, null_padding = false,
                    store_rejects = true, auto_detect = false,
                    columns = {{{", ".join(f"{_sql_str(name)}: 'VARCHAR'" for name in header)}}})
            )
        )
        """
    )


def _write_checked(con, path, contract, rows_out, quarantine_out, result) -> None:
    file_lit = _sql_str(path.name)
    # pyarrow's Parquet writer is about twice as fast as DuckDB's here (docs/performance.md)
    rows = con.sql(
        f"select * exclude (_row, _reason, _raw_line), {file_lit} as _source_file from checked where _reason is null"
    ).to_arrow_table()
    pq.write_table(rows, rows_out)
    con.execute(
        f"""
        copy (
            select {file_lit} as source_file, _row as row_number, cast(null as bigint) as line,
                   _reason as reason, _raw_line as raw_line
            from checked where _reason is not null
            union all
            select {file_lit}, null, line, 'unreadable line: ' || error_type || ' (' || error_message || ')',
                   trim(csv_line, chr(13) || chr(10))
            from reject_errors qualify row_number() over (partition by line order by byte_position) = 1
        ) to {_sql_str(str(quarantine_out))} (format parquet)
        """
    )
    loaded, quarantined_rows = con.execute(
        "select count(*) filter (where _reason is null), count(*) filter (where _reason is not null) from checked"
    ).fetchone()
    unreadable = con.execute("select count(distinct line) from reject_errors").fetchone()[0]
    for reason, n in con.execute(
        "select _reason, count(*) from checked where _reason is not null group by 1 "
        "union all select 'unreadable line: ' || error_type, count(distinct line) from reject_errors group by 1"
    ).fetchall():
        result.reasons[reason] = result.reasons.get(reason, 0) + n
    result.rows_loaded += loaded
    result.rows_quarantined += quarantined_rows + unreadable
    result.rows_in += loaded + quarantined_rows + unreadable


def fingerprint(files: list[Path]) -> list[list]:
    """What identifies a set of landing files: names, sizes and modification times."""
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def load_date(contract: SourceContract, day: date, files: list[Path], force: bool = False) -> LoadResult:
    """Load every landing file of one load date into the lake, replacing that partition."""
    result = LoadResult(source=contract.name, load_date=day, files=[f.name for f in files])
    marker = lake.partition_dir(lake.raw_dataset(contract.name), day) / "_files.json"
    files_print = fingerprint(files)
    if not force and marker.exists():
        stored = json.loads(marker.read_text())
        if stored["files"] == files_print:
            for key in ("rows_in", "rows_loaded", "rows_quarantined", "reasons"):
                setattr(result, key, stored[key])
            result.skipped = True
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
        (rows_dir / "_files.json").write_text(
            json.dumps(
                {
                    "files": files_print,
                    "rows_in": result.rows_in,
                    "rows_loaded": result.rows_loaded,
                    "rows_quarantined": result.rows_quarantined,
                    "reasons": result.reasons,
                }
            )
        )
    return result


SQL_TYPES = {
    "integer": "bigint",
    "decimal": "decimal(18, 2)",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}


def ensure_not_missing(contract: SourceContract) -> None:
    """A source that has delivered nothing yet is an empty table downstream, not a missing one.

    Writes one zero-row partition with the contract's columns and types, dated HOURGLASS_AS_OF_DATE; the
    first real load of that date replaces it.
    """
    dataset = lake.raw_dataset(contract.name)
    if lake.has_files(dataset):
        return
    with lake.replacing_partitions([dataset], settings.as_of_date()) as (staging,), duckdb.connect() as con:
        _write_empty(con, contract, staging / "empty.parquet")


def _write_empty(con: duckdb.DuckDBPyConnection, contract: SourceContract, path: Path) -> None:
    """A zero-row Parquet file with the contract's columns and types."""
    columns = [f'cast(null as {SQL_TYPES.get(c.type, "varchar")}) as "{c.name}"' for c in contract.columns]
    con.execute(
        f"copy (select {', '.join(columns)}, cast(null as varchar) as _source_file limit 0) "
        f"to {_sql_str(str(path))} (format parquet)"
    )


def load_source(contract: SourceContract, force: bool = False) -> list[LoadResult]:
    """Load every load date found in the source's landing folder; unchanged ones are skipped."""
    results = [load_date(contract, day, files, force) for day, files in sorted(landing_files(contract.name).items())]
    ensure_not_missing(contract)
    return results
