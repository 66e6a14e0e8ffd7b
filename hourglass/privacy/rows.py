"""Which rows of any table are a person's: one SQL test per table, whatever holds it.

A source's rows (landing, lake, quarantine, a staging table in the warehouse) are theirs when an identifier they
carry is among the person's hashes (suppression.py). Any other table is theirs by the columns that name a
person: customer_key, record_id / anchor_record_id, an identifier (identifier_type, identifier_value), a message
key, or an e-mail or phone column (hashed the same way). A table with none of these holds nobody.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hourglass import lake
from hourglass.privacy import identifiers as ids
from hourglass.privacy import suppression as sup
from hourglass.privacy.person import Person
from hourglass.sources import CONTRACTS

KEYS, RECORDS, MESSAGES = "hg_person_keys", "hg_person_records", "hg_person_messages"


def prepare(con: duckdb.DuckDBPyConnection, person: Person, message_keys: Iterable[str] = ()) -> None:
    """Register the person's hashes, customer keys, record ids and message keys on `con`."""
    sup.prepare(con, person.hashes)
    con.register(KEYS, pa.table({"v": pa.array(sorted(person.customer_keys), pa.string())}))
    con.register(RECORDS, pa.table({"v": pa.array(sorted(person.record_ids), pa.string())}))
    con.register(MESSAGES, pa.table({"v": pa.array(sorted(set(message_keys)), pa.string())}))


def _in(column: str, table: str) -> str:
    return f'coalesce(cast("{column}" as varchar) in (select v from {table}), false)'


def _hashed(identifier: str) -> str:
    """SQL: the hash of the identifier expression is on the list (NULL: not)."""
    return f"coalesce({ids.hash_sql(identifier, sup.SALT_VARIABLE)} in (select hash from {sup.TABLE}), false)"


def _identifier_columns() -> dict[str, list[str]]:
    """Column name -> the identifiers (SQL over `{column}`) a column of that name holds, in any table: the names
    int_identity_links gives each source's key and identifier columns (subscriber_id, visitor_id, email, ...)."""
    found: dict[str, list[str]] = {}
    for identity in ids.identity_sources().values():
        found.setdefault(identity.key, []).append(f"'record:{identity.prefix}:' || {ids.id_sql('{column}')}")
        for kind, column in identity.identifiers.items():
            found.setdefault(column, []).append(f"'{kind}:' || {ids.value_sql(kind, '{column}')}")
    return {column: list(dict.fromkeys(values)) for column, values in found.items()}


def generic_matches(columns: Iterable[str]) -> list[str]:
    """Tests by column name: the person's customer keys, record ids and message keys, and any column named as a
    source's identifier (hashed and looked up in the person's hashes)."""
    names = {c.lower(): c for c in columns}
    tests = []
    for column, table in (("customer_key", KEYS), ("record_id", RECORDS), ("anchor_record_id", RECORDS),
                          ("message_key", MESSAGES)):  # fmt: skip
        if column in names:
            tests.append(_in(names[column], table))
    for column, identifiers in _identifier_columns().items():
        if column in names:
            tests += [_hashed(i.replace("{column}", f'"{names[column]}"')) for i in identifiers]
    if "identifier_type" in names and "identifier_value" in names:
        tests.append(_hashed("identifier_type || ':' || trim(identifier_value)"))
    return tests


def matches(columns: list[str], source: str | None = None, quarantine: bool = False) -> str | None:
    """SQL for "this row is the person's" over a table with `columns`, or None when it cannot hold anyone.
    `source`: the table holds that source's rows (landing or lake); `quarantine`: its quarantine's."""
    tests = generic_matches(columns) if not quarantine else []
    if source in ids.identity_sources():
        if quarantine:
            tests.append(sup.quarantined_matches(source, CONTRACTS[source].delimiter))
        else:
            tests.append(sup.row_matches(source, columns))
    return " or ".join(f"({t})" for t in tests) if tests else None


def dataset_of(path) -> tuple[str | None, bool]:
    """A lake file -> (its source, whether it is the source's quarantine); (None, False) for any other file."""
    try:
        relative = path.relative_to(lake.raw_dataset("x").parent.parent)
    except ValueError:
        return None, False
    parts = relative.parts
    if len(parts) > 2 and parts[0] in ("raw", "quarantine") and parts[1] in CONTRACTS:
        return parts[1], parts[0] == "quarantine"
    return None, False


def read_parquet(path) -> pa.Table:
    """One file's rows as written, without the columns a hive-partitioned read adds from the folder names."""
    return pq.ParquetFile(path).read()


def mask(con: duckdb.DuckDBPyConnection, table: pa.Table, test: str) -> pa.Array:
    """For each row of `table`, whether `test` holds (in the table's order: a plain projection keeps it)."""
    con.register("hg_rows", table)
    try:
        found = con.sql(f"select coalesce({test}, false) as theirs from hg_rows").to_arrow_table()
        return found.column("theirs").combine_chunks()
    finally:
        con.unregister("hg_rows")
