"""A source contract -> the DuckDB SQL that reads one landing file as text and checks every row.

Each value is cleaned (trimmed, blank is NULL) and converted to its logical type once, beside its text; a row's
first broken rule is its reason. The query also flags rows whose key hash repeats, and carries each bad row's
raw line and raw fields for the quarantine. Where repeated keys are quarantined, a first, cheaper pass over
the file (`repeated_keys`) finds which key hashes occur more than once, so that only rows carrying those need
comparing in file order (checked_rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from hourglass import lake
from hourglass.sources import EMAIL_PATTERN, RESERVED_PREFIX, Column, SourceContract

TYPED = ("integer", "decimal", "date", "timestamp", "boolean")
# The loader's own columns, beside the file's in its queries: under the prefix no source column may take.
ROW, REASON, REPEATED, RAW_LINE, RAW_FIELDS, HASH = (
    RESERVED_PREFIX + n for n in ("row", "reason", "repeated", "raw_line", "raw_fields", "hash")
)
# Spellings of a boolean; 'true' and 'false' come first, as the CASE in _typed tries them in this order.
_BOOLEANS = (("true", True), ("false", False), ("1", True), ("0", False), ("yes", True), ("no", False),
             ("ja", True), ("nee", False), ("j", True), ("n", False), ("y", True))  # fmt: skip

# The view in which the check query finds the repeated key hashes (repeated_keys gives its table).
REPEATED_KEYS = "repeated_keys"


def sql_str(value: str) -> str:
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
    trimmed, as trim() is the costliest check.
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
            # Most values have no dot at all: they skip the thousands separators' replace.
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
        # (keeps_file_order); the CRM's booleans did that, and its quarantine row numbers were wrong.
        spellings = " ".join(f"when {sql_str(text)} then {str(value).lower()}" for text, value in _BOOLEANS)
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
        valid = f"regexp_matches({raw}, {sql_str(EMAIL_PATTERN)})"
        checks.append((f"{raw} is not null and not {valid}", f"invalid e-mail in {col.name}"))
    return _first_reason(checks)


def _first_reason(checks: list[tuple[str, str]]) -> str:
    if not checks:
        return "null"
    return "case " + " ".join(f"when {cond} then {sql_str(reason)}" for cond, reason in checks) + " end"


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


def key_columns(contract: SourceContract, present: list[Column]) -> list[Column]:
    """The key columns whose repeats are quarantined; none where repeats are allowed or a key column is absent."""
    names = {c.name: c for c in present}
    if contract.duplicate_keys_allowed or not all(k in names for k in contract.key):
        return []
    return [names[k] for k in contract.key]


def _scan(path: Path, header: list[str], contract: SourceContract) -> str:
    """The file as text columns; lines the reader cannot split go to reject_errors instead of failing it."""
    columns = ", ".join(f"{sql_str(name)}: 'VARCHAR'" for name in header)
    return (
        f"read_csv({sql_str(str(path))}, header = true, all_varchar = true, "
        f"delim = {sql_str(contract.delimiter)}, quote = '\"', escape = '\"', "
        f"encoding = {sql_str(contract.encoding)}, strict_mode = true, null_padding = false, "
        f"store_rejects = true, auto_detect = false, columns = {{{columns}}})"
    )


def _key_hash(key: list[Column]) -> str:
    """SQL hashing a row's key, over typed values where the key column has a type (as the duplicate rule compares)."""
    return "hash(" + ", ".join(_value(c) for c in key) + ")"


def _converted(scan: str, columns: list[Column], contract: SourceContract) -> str:
    """The scanned rows with clean and typed values beside the text ones, each value converted once."""
    conversions = "".join(f', {_typed(c, contract)} as "{_typed_name(c)}"' for c in columns if c.type in TYPED)
    return f"(select *{conversions} from {_cleaned(scan, columns)})"


def repeated_keys(
    con: duckdb.DuckDBPyConnection, path: Path, header: list[str], key: list[Column], contract: SourceContract
) -> pa.Table | None:
    """The hashes of the keys that occur more than once in the file, sorted, as the table the check query reads
    as the view REPEATED_KEYS; None where every key is unique.

    Only rows carrying one of these can be "duplicate of an earlier key", so only those few are compared in
    row-number order (checked_rows) instead of ordering every row by key in a window. A hash collision only
    makes an extra row a candidate; the comparison itself is on the values. The hashes are sorted rather than
    grouped: over millions of distinct keys a sort is the cheaper of the two.
    """
    scan = _converted(_scan(path, header, contract), key, contract)
    hashes = np.sort(con.sql(f"select {_key_hash(key)} as h from {scan}").fetchnumpy()["h"])
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    return pa.table({HASH: repeated}) if len(repeated) else None


def check_query(path, header, contract, present, key, numbered: bool) -> str:
    """Each row with its typed values, its first problem as REASON and, if it is quarantined, its raw line.

    ROW is the row's place among the file's readable rows. Where `numbered`, the scan counts the rows (a
    window, which runs the whole query on one core); this is needed where repeated keys are flagged, as the
    flag is a join (`IN (select ...)`) after which DuckDB does not promise the file's order. Otherwise ROW is
    left empty here and checked_rows counts the rows as they arrive, while DuckDB checks them on every core:
    only right where the plan is projections and filters over the one scan (keeps_file_order). A row whose
    key hash repeats is flagged REPEATED.
    """
    extra = [name for name in header if name not in {c.name for c in present}]
    problems = ", ".join([_problem(c) for c in present] + _row_problems(contract, present)) or "null"
    loaded = [f'"{_typed_name(c)}" as "{c.name}"' if c.type in TYPED else f'"{c.name}"' for c in present]
    loaded += [f'"{name}"' for name in extra]  # columns the contract does not know travel as text
    # Optional columns this file lacks are there, empty: every load date has the contract's columns, so
    # models and the send-time consent lookup never meet a missing one.
    absent = [c for c in contract.columns if c.name not in header]
    loaded += [f'cast(null as {c.sql_type}) as "{c.name}"' for c in absent]
    # One function over all fields: a chain of || is an expression as deep as the file is wide (DuckDB stops at 1000).
    fields = ", ".join(f"coalesce(\"{n}\", '')" for n in header)
    raw_line = f"concat_ws({sql_str(contract.delimiter)}, {fields})"
    repeated = f"{_key_hash(key)} in (select {HASH} from {REPEATED_KEYS})" if key else "false"
    # The raw fields by column name too: raw_line cannot be split back where a value holds the delimiter.
    quoted = [f'"{n}"' for n in header]
    raw_fields = f"map([{', '.join(map(sql_str, header))}], [{', '.join(quoted)}])"
    scan = _scan(path, header, contract)
    rows = f"(select *, row_number() over () as {ROW} from {scan})" if numbered else scan
    row = ROW if numbered else f"null::bigint as {ROW}"
    return f"""
        select {", ".join(loaded)}, {row}, {REASON}, {REPEATED},
               case when {REASON} is not null or {REPEATED} then {raw_line} end as {RAW_LINE},
               case when {REASON} is not null or {REPEATED} then {raw_fields} end as {RAW_FIELDS}
        from (
            select *, coalesce({problems}) as {REASON}, {repeated} as {REPEATED}
            from {_converted(rows, present, contract)}
        )
        """


# Physical operators that pass rows on in the order they get them, one input each.
_ORDER_KEEPING = {"PROJECTION", "FILTER"}


def keeps_file_order(con: duckdb.DuckDBPyConnection, query: str) -> bool:
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


def empty_rows_sql(contract: SourceContract) -> str:
    """SQL for zero rows with the contract's columns and types, as a rows file of the lake has them."""
    columns = [f'cast(null as {c.sql_type}) as "{c.name}"' for c in contract.columns]
    return f"select {', '.join(columns)}, cast(null as varchar) as {lake.SOURCE_FILE_COLUMN} limit 0"
