"""Landing files -> lake partitions, checked against the source's contract.

Every file is read as text, then each row is checked column by column. A row that breaks a rule goes to
the quarantine dataset with its reason and its raw fields; a line the CSV reader cannot split (wrong field
count, broken quoting, bad encoding) goes there too. rows in = rows loaded + rows quarantined, always.
A structural problem (no header, a required column missing from it, a column name twice or reserved, a quote
that swallows line breaks, an impossible date in the file name) fails that file's load date with an error
naming the file and the column, never quoting row values; the lake keeps what it had, and the source's other
load dates load.

How: one DuckDB query numbers and checks the rows and streams them out as Arrow batches; good rows go to
the Parquet writer batch by batch, bad ones are kept for the quarantine file. Where repeated keys are
quarantined, a first, cheaper pass over the file finds which key hashes occur more than once, so that only
rows carrying those need comparing in file order.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hourglass import lake, settings
from hourglass.sources import RESERVED_PREFIX, Column, SourceContract

_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
TYPED = ("integer", "decimal", "date", "timestamp", "boolean")
# The loader's own columns, beside the file's in its queries: under the prefix no source column may take.
_ROW, _REASON, _REPEATED, _RAW_LINE, _RAW_FIELDS, _HASH = (
    RESERVED_PREFIX + n for n in ("row", "reason", "repeated", "raw_line", "raw_fields", "hash")
)
# Nor may a source column take the names of the columns the lake adds.
_LAKE_COLUMNS = (lake.PARTITION_COLUMN, lake.SOURCE_FILE_COLUMN)
# Spellings of a boolean; 'true' and 'false' come first, as the CASE in _typed tries them in this order.
_BOOLEANS = (("true", True), ("false", False), ("1", True), ("0", False), ("yes", True), ("no", False),
             ("ja", True), ("nee", False), ("j", True), ("n", False), ("y", True))  # fmt: skip


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


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _clean(name: str) -> str:
    """SQL for a value as the checks see it: trimmed, NULL when blank.

    trim() (which strips Unicode spaces) costs more than the other checks together, so it only runs where it
    may change something. An all-ASCII value (as many characters as bytes) whose first byte sorts at or
    after '!' and whose last character is not a space has nothing to trim.
    """
    x = f'"{name}"'
    nothing_to_trim = f"{x} >= '!' and not suffix({x}, ' ') and length({x}) = strlen({x})"
    return f"case when {nothing_to_trim} then {x} else nullif(trim({x}), '') end"


def _clean_name(col: Column) -> str:
    return f"{RESERVED_PREFIX}clean_{col.name}"


def _cleaned(scan: str, present: list[Column]) -> str:
    """The scanned rows with the clean value of each column that is converted or checked beside it, computed
    once per value. A required text column has none: only its blankness is checked (_blank)."""
    clean = "".join(f', {_clean(c.name)} as "{_clean_name(c)}"' for c in present if _has_clean(c))
    return f"(select *{clean} from {scan})"


def _has_clean(col: Column) -> bool:
    return col.type in TYPED or col.type == "email"


def _blank(col: Column) -> str:
    """SQL: the raw value is NULL or blank once trimmed (its clean value would be NULL).

    A value whose first byte is printable ASCII ('!' up to DEL: it sorts at or after '!' and before
    chr(128), the first two-byte character) is not blank, trim() removing spaces only; only the others are
    trimmed. For the five required text columns of the ERP order lines this costs 0.2 CPU s less than their
    clean values did (docs/performance.md).
    """
    x = f'"{col.name}"'
    return f"case when {x} >= '!' and {x} < chr(128) then false else coalesce(trim({x}), '') = '' end"


def _typed(col: Column, contract: SourceContract) -> str:
    """SQL turning the clean value into its logical type; NULL where the value does not parse.

    ISO dates and timestamps take DuckDB's cast, Dutch ones strptime with their one matching format.
    """
    v = f'"{_clean_name(col)}"'
    if col.type == "integer":
        return f"try_cast({v} as bigint)"
    if col.type == "decimal":
        if contract.decimal == ",":
            # A dot is a thousands separator only between groups of three digits ("1.234,50"); "1.2.3" is
            # not a number, although dropping its dots would make it one.
            grouped = rf"regexp_full_match({v}, '-?\d{{1,3}}(\.\d{{3}})+(,\d*)?')"
            number = f"try_cast(replace(replace({v}, '.', ''), ',', '.') as decimal(18, 2))"
            # Most values have no dot at all: one replace fewer for them (a quarter of this conversion's cost).
            plain = f"try_cast(replace({v}, ',', '.') as decimal(18, 2))"
            return f"case when not contains({v}, '.') then {plain} when {grouped} then {number} end"
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
        # A CASE, not `lower(v) IN (...)`: DuckDB rewrites an IN list of five or more constants into a join
        # (its in_clause optimizer), after which the rows no longer leave the query in file order
        # (_keeps_file_order); the CRM's booleans did that, and its quarantine row numbers were wrong.
        spellings = " ".join(f"when {_sql_str(text)} then {str(value).lower()}" for text, value in _BOOLEANS)
        return f"case lower({v}) {spellings} end"
    raise ValueError(f"{col.type} is not a typed column")


def _typed_name(col: Column) -> str:
    return f"{RESERVED_PREFIX}typed_{col.name}"


def _value(col: Column) -> str:
    """How SQL over the checked rows refers to a column's value: its typed form where it has one."""
    return f'"{_typed_name(col)}"' if col.type in TYPED else f'"{col.name}"'


def _problem(col: Column) -> str:
    """SQL giving the reason a value is unacceptable, or NULL; typed columns are already converted."""
    raw = f'"{_clean_name(col)}"'
    checks = []
    if col.required:
        checks.append((f"{raw} is null" if _has_clean(col) else _blank(col), f"missing required value in {col.name}"))
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
    return [_first_reason(checks)] if checks else []


def _key(contract: SourceContract, present: list[Column]) -> list[Column]:
    """The key columns whose repeats are quarantined; none where repeats are allowed or a key column is absent."""
    names = {c.name: c for c in present}
    if contract.duplicate_keys_allowed or not all(k in names for k in contract.key):
        return []
    return [names[k] for k in contract.key]


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


def _scan(path: Path, header: list[str], contract: SourceContract) -> str:
    """The file as text columns; lines the reader cannot split go to reject_errors instead of failing it."""
    columns = ", ".join(f"{_sql_str(name)}: 'VARCHAR'" for name in header)
    return (
        f"read_csv({_sql_str(str(path))}, header = true, all_varchar = true, "
        f"delim = {_sql_str(contract.delimiter)}, quote = '\"', escape = '\"', "
        f"encoding = {_sql_str(contract.encoding)}, strict_mode = true, null_padding = false, "
        f"store_rejects = true, auto_detect = false, columns = {{{columns}}})"
    )


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
    key = _key(contract, present)
    try:
        repeated = _repeated_keys(con, _scan(path, header, contract), key, contract) if key else None
        # Unreadable lines the key pass (or an earlier file) recorded; the check query records this file's again.
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
        key = key if repeated is not None else []
        # Numbered as the rows arrive only where DuckDB's plan keeps the file's order; else by a window.
        query = _check_query(path, header, contract, present, key, numbered=bool(key))
        numbered = bool(key) or not _keeps_file_order(con, query)
        if numbered and not key:
            query = _check_query(path, header, contract, present, key, numbered=True)
        with _registered(con, "repeated_keys", None if repeated is None else pa.table({_HASH: repeated})):
            checked = con.sql(query)
            with checked.to_arrow_reader(_BATCH_ROWS) as reader, closing(_read_ahead(reader)) as batches:
                written = _write_rows(reader.schema, batches, rows_out, path.name, key, contract, numbered)
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


_BATCH_ROWS = 262_144  # rows per Arrow batch DuckDB hands over (at most)
_ROW_GROUP_ROWS = 1_048_576  # pyarrow's default row group size


def _read_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, each next one fetched in a thread: DuckDB checks it while this one is written."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_next_batch, reader)
        while (batch := pending.result()) is not None:
            pending = pool.submit(_next_batch, reader)
            yield batch


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    """The next batch, or None at the end; DuckDB's errors come through Arrow as OSError and are given back."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
    except OSError as exc:
        if str(exc).startswith("Invalid Input Error"):
            raise duckdb.InvalidInputException(str(exc)) from exc
        raise


def _key_hash(key: list[Column]) -> str:
    """SQL hashing a row's key, over typed values where the key column has a type (as the duplicate rule compares)."""
    return "hash(" + ", ".join(_value(c) for c in key) + ")"


def _converted(scan: str, columns: list[Column], contract: SourceContract) -> str:
    """The scanned rows with clean and typed values beside the text ones, each value converted once."""
    conversions = "".join(f', {_typed(c, contract)} as "{_typed_name(c)}"' for c in columns if c.type in TYPED)
    return f"(select *{conversions} from {_cleaned(scan, columns)})"


def _repeated_keys(
    con: duckdb.DuckDBPyConnection, scan: str, key: list[Column], contract: SourceContract
) -> np.ndarray | None:
    """The hashes of the keys that occur more than once in the file, sorted; None where every key is unique.

    Only rows carrying one of these can be "duplicate of an earlier key", so only those few are compared in
    row-number order (in _first_occurrences) instead of ordering every row by key in a window. A hash collision
    only makes an extra row a candidate; the comparison itself is on the values. Sorting the hashes costs
    half of what a GROUP BY over millions of distinct keys does.
    """
    hashes = np.sort(con.sql(f"select {_key_hash(key)} as h from {_converted(scan, key, contract)}").fetchnumpy()["h"])
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    return repeated if len(repeated) else None


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


def _check_query(path, header, contract, present, key, numbered: bool) -> str:
    """Each row with its typed values, its first problem as _REASON and, if it is quarantined, its raw line.

    _ROW is the row's place among the file's readable rows. Where `numbered`, the scan counts the rows (a
    window, which runs the whole query on one core); this is needed where repeated keys are flagged, as the
    flag is a join (`IN (select ...)`) after which DuckDB does not promise the file's order. Otherwise _ROW is
    left empty here and _write_rows counts the rows as they arrive, while DuckDB checks them on every core:
    only right where the plan is projections and filters over the one scan (_keeps_file_order). A row whose
    key hash repeats is flagged _REPEATED.
    """
    extra = [name for name in header if name not in {c.name for c in present}]
    problems = ", ".join([_problem(c) for c in present] + _row_problems(contract, present)) or "null"
    loaded = [f'"{_typed_name(c)}" as "{c.name}"' if c.type in TYPED else f'"{c.name}"' for c in present]
    loaded += [f'"{name}"' for name in extra]  # columns the contract does not know travel as text
    # Optional columns this file lacks are there, empty: every load date has the contract's columns, so
    # models and the send-time consent lookup never meet a missing one.
    absent = [c for c in contract.columns if c.name not in header]
    loaded += [f'cast(null as {SQL_TYPES.get(c.type, "varchar")}) as "{c.name}"' for c in absent]
    # One function over all fields: a chain of || is an expression as deep as the file is wide (DuckDB stops at 1000).
    fields = ", ".join(f"coalesce(\"{n}\", '')" for n in header)
    raw_line = f"concat_ws({_sql_str(contract.delimiter)}, {fields})"
    repeated = f"{_key_hash(key)} in (select {_HASH} from repeated_keys)" if key else "false"
    # The raw fields by column name too: raw_line cannot be split back where a value holds the delimiter.
    quoted = [f'"{n}"' for n in header]
    raw_fields = f"map([{', '.join(map(_sql_str, header))}], [{', '.join(quoted)}])"
    scan = _scan(path, header, contract)
    rows = f"(select *, row_number() over () as {_ROW} from {scan})" if numbered else scan
    row = _ROW if numbered else f"null::bigint as {_ROW}"
    return f"""
        select {", ".join(loaded)}, {row}, {_REASON}, {_REPEATED},
               case when {_REASON} is not null or {_REPEATED} then {raw_line} end as {_RAW_LINE},
               case when {_REASON} is not null or {_REPEATED} then {raw_fields} end as {_RAW_FIELDS}
        from (
            select *, coalesce({problems}) as {_REASON}, {repeated} as {_REPEATED}
            from {_converted(rows, present, contract)}
        )
        """


# Physical operators that pass rows on in the order they get them, one input each.
_ORDER_KEEPING = {"PROJECTION", "FILTER"}


def _keeps_file_order(con: duckdb.DuckDBPyConnection, query: str) -> bool:
    """Whether DuckDB hands over the query's rows in file order: its plan is a chain of projections and filters
    over the one CSV scan, and insertion order is preserved (docs: "Order Preservation").

    The SQL alone does not tell: the optimizer turns an IN list of five or more constants into a join
    (duckdb/duckdb#24398), and a contract rule may bring in anything. Anything but such a chain gets no; the
    caller then numbers the rows in the query.
    """
    if not con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]:
        return False
    (plan,) = json.loads(con.execute(f"explain (format json) {query}").fetchall()[0][1])
    while plan["name"] in _ORDER_KEEPING and len(plan.get("children", [])) == 1:
        plan = plan["children"][0]
    return plan["name"] == "READ_CSV" and not plan.get("children")


@dataclass
class _Written:
    """What _write_rows leaves: the bad rows (row number, reason, raw line) and how many rows it wrote."""

    loaded: int = 0
    bad: list[pa.RecordBatch] = field(default_factory=list)


def _write_rows(
    checked: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    rows_out: Path,
    file_name: str,
    key: list[Column],
    contract: SourceContract,
    numbered: bool,
) -> _Written:
    """Good rows to the rows file, batch by batch; bad ones kept with their row number, reason and raw line.

    Rows the query has not `numbered` are numbered here as they arrive (_check_query, _keeps_file_order).

    Rows whose key hash repeats are held back until every batch is in; then the first of each key, by row
    number, is written after the others and the later ones quarantined.
    """
    names = [n for n in checked.names if n not in (_ROW, _REASON, _REPEATED, _RAW_LINE, _RAW_FIELDS)]
    schema = pa.schema([checked.field(n) for n in names] + [pa.field(lake.SOURCE_FILE_COLUMN, pa.string())])
    written, pending, held = _Written(), [], []

    def keep(rows: pa.RecordBatch, reason: pa.Array) -> None:
        good = pc.is_null(reason)
        loaded = rows.select(names).filter(good)
        source = pa.repeat(pa.scalar(file_name, pa.string()), loaded.num_rows)
        pending.append(pa.RecordBatch.from_arrays([*loaded.columns, source], schema=schema))
        written.loaded += loaded.num_rows
        bad = {name: rows.column(name) for name in _BAD_SCHEMA.names} | {_REASON: reason}
        written.bad.append(pa.record_batch(bad, schema=_BAD_SCHEMA).filter(pc.invert(good)))

    numbered_at = checked.get_field_index(_ROW)
    counted = 0
    # pyarrow's Parquet writer is about twice as fast as DuckDB's here (docs/performance.md)
    with pq.ParquetWriter(rows_out, schema) as parquet, _row_groups_in_thread(parquet) as out:
        for batch in batches:
            if not numbered:  # the rows come in file order (_keeps_file_order): numbered as they arrive
                numbers = pa.array(np.arange(counted + 1, counted + 1 + batch.num_rows, dtype=np.int64))
                batch = batch.set_column(numbered_at, _ROW, numbers)
            counted += batch.num_rows
            repeated = batch.column(_REPEATED)
            if key:
                held.append(batch.filter(repeated))
                batch = batch.filter(pc.invert(repeated))
            keep(batch, batch.column(_REASON))
            if sum(b.num_rows for b in pending) >= _ROW_GROUP_ROWS:
                _write_row_group(out, pending)
        if held:
            candidates = pa.concat_batches(held).sort_by(_ROW)
            keep(candidates, _first_occurrences(candidates, [c.name for c in key], contract))
        _write_row_group(out, pending)
    return written


class _RowGroupWriter:
    """Writes row groups in a thread of its own, one at a time, while the caller gathers the next one."""

    def __init__(self, out: pq.ParquetWriter, pool: ThreadPoolExecutor) -> None:
        self.out, self.pool, self.writing = out, pool, None

    def write(self, table: pa.Table) -> None:
        self.wait()
        self.writing = self.pool.submit(self.out.write_table, table, row_group_size=table.num_rows)

    def wait(self) -> None:
        """Until the row group being written is written; its error, if any, is raised here."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()


@contextmanager
def _row_groups_in_thread(out: pq.ParquetWriter) -> Iterator[_RowGroupWriter]:
    """A writer of row groups that encodes and compresses one while DuckDB checks the rows of the next.

    Written in the caller's thread, each row group stalled the query: it had handed over its batch and waited
    to be asked for the next. The last one is written before this returns, so the file can be closed.
    """
    with ThreadPoolExecutor(1) as pool:
        writer = _RowGroupWriter(out, pool)
        try:
            yield writer
        finally:
            writer.wait()


def _write_row_group(out: _RowGroupWriter, batches: list[pa.RecordBatch]) -> None:
    """The batches as one row group (DuckDB's batches are small, and many row groups write slower); empties the list."""
    table = pa.Table.from_batches(batches, schema=out.out.schema)
    if table.num_rows:
        out.write(table)
    batches.clear()


def _first_occurrences(rows: pa.RecordBatch, key: list[str], contract: SourceContract) -> pa.Array:
    """_REASON, with "duplicate" for each row (in row-number order) whose key came before and that has no reason yet."""
    seen, later = set(), np.zeros(rows.num_rows, dtype=bool)
    for i, row in enumerate(rows.select(key).to_pylist()):
        value = tuple(row.values())
        later[i] = value in seen
        seen.add(value)
    duplicate = f"duplicate of an earlier {'/'.join(contract.key)}"
    reason = rows.column(_REASON)
    return pc.if_else(pc.and_(pa.array(later), pc.is_null(reason)), duplicate, reason)


def _write_quarantine(con, path: Path, written: _Written, quarantine_out: Path, result: LoadResult) -> None:
    """Quarantined rows and unreadable lines to the quarantine file; the counts to the result."""
    file_lit = _sql_str(path.name)
    bad_rows = pa.Table.from_batches(written.bad, schema=_BAD_SCHEMA)
    con.register("bad_rows", bad_rows)
    con.execute(
        f"""
        copy (
            select {file_lit} as source_file, {_ROW} as row_number, cast(null as bigint) as line,
                   {_REASON} as reason, {_RAW_LINE} as raw_line, {_RAW_FIELDS} as raw_fields
            from bad_rows
            union all
            select {file_lit}, null, line, 'unreadable line: ' || error_type || ' (' || error_message || ')',
                   trim(csv_line, chr(13) || chr(10)), null
            from reject_errors qualify row_number() over (partition by line order by byte_position) = 1
        ) to {_sql_str(str(quarantine_out))} (format parquet)
        """
    )
    unreadable = con.execute("select count(distinct line) from reject_errors").fetchone()[0]
    for reason, n in con.execute(
        f"select {_REASON}, count(*) from bad_rows group by 1 "
        "union all select 'unreadable line: ' || error_type, count(distinct line) from reject_errors group by 1"
    ).fetchall():
        result.reasons[reason] = result.reasons.get(reason, 0) + n
    con.unregister("bad_rows")
    result.rows_loaded += written.loaded
    result.rows_quarantined += bad_rows.num_rows + unreadable
    result.rows_in += written.loaded + bad_rows.num_rows + unreadable


_BAD_SCHEMA = pa.schema(
    [
        (_ROW, pa.int64()),
        (_REASON, pa.string()),
        (_RAW_LINE, pa.string()),
        (_RAW_FIELDS, pa.map_(pa.string(), pa.string())),
    ]
)
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
    con.execute(f"copy ({empty_rows_sql(contract)}) to {_sql_str(str(path))} (format parquet)")


def empty_rows_sql(contract: SourceContract) -> str:
    """SQL for zero rows with the contract's columns and types, as a rows file of the lake has them."""
    columns = [f'cast(null as {SQL_TYPES.get(c.type, "varchar")}) as "{c.name}"' for c in contract.columns]
    return f"select {', '.join(columns)}, cast(null as varchar) as {lake.SOURCE_FILE_COLUMN} limit 0"


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
