"""The suppression list: salted hashes of forgotten people's identifiers, and the SQL test of "this row is theirs".

The list lives in the send ledger's SQLite file (ledger/sends.sqlite, table `suppressed`): the ledger is the file
kept on durable storage, and what keeps a person from being messaged again belongs with it. It holds hashes only
(identifiers.py); the salt's fingerprint is kept beside them, and a different salt is refused, since every entry
would silently stop matching.

One test decides whether a row belongs to a suppressed person, wherever the row is: a landing file at load, a lake
partition, its quarantine, a warehouse staging table. Each identifier a row carries (its record key and the columns
int_identity_links lists for its source) is normalised and hashed in DuckDB and looked up in the list.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from hourglass import settings
from hourglass.privacy import identifiers as ids

SCHEMA = """
create table if not exists suppressed (hash text primary key, added_at real not null);
create table if not exists suppression_salt (fingerprint text not null);
"""
TABLE = "hg_suppressed"  # the hashes as a DuckDB view while a check runs
SALT_VARIABLE = "hg_privacy_salt"


class SaltChanged(RuntimeError):
    """The salt differs from the one the suppression entries were made with: none of them would match."""


@dataclass(frozen=True)
class Suppression:
    hashes: frozenset[str]
    version: str  # changes whenever an entry is added: a landing file checked against one version is not again

    def __bool__(self) -> bool:
        return bool(self.hashes)


def _connect(readonly: bool = False) -> sqlite3.Connection | None:
    if readonly:
        if not (settings.home() / "ledger").is_dir():  # (ledger_path() makes the folder: a load must not)
            return None
        path = settings.ledger_path()
        if not path.exists():
            return None
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    else:
        con = sqlite3.connect(settings.ledger_path(), timeout=60, isolation_level=None)
        con.execute("pragma journal_mode=wal")
        con.executescript(SCHEMA)
    return con


def _check_salt(con: sqlite3.Connection, fingerprint: str) -> None:
    stored = con.execute("select fingerprint from suppression_salt").fetchone()
    if stored and stored[0] != fingerprint:
        raise SaltChanged(
            f"{ids.SALT_VAR} is not the salt the suppression list was made with: forgotten people would be loaded "
            "again. Restore the original salt."
        )


def current() -> Suppression:
    """The list as it stands (empty where nothing was ever forgotten)."""
    con = _connect(readonly=True)
    if con is None:
        return Suppression(frozenset(), "0")
    try:
        try:
            rows = con.execute("select hash from suppressed").fetchall()
            if rows:
                _check_salt(con, ids.salt_fingerprint(ids.salt()))
        except sqlite3.OperationalError:  # a ledger from before the list existed
            return Suppression(frozenset(), "0")
    finally:
        con.close()
    hashes = frozenset(h for (h,) in rows)
    return Suppression(hashes, f"{len(hashes)}-{ids.hashed(' '.join(sorted(hashes)), 'version')[:12]}")


def add(hashes: Iterable[str]) -> int:
    """Add entries (hashes made with the current salt); how many were new."""
    fingerprint = ids.salt_fingerprint(ids.salt())
    con = _connect()
    try:
        con.execute("begin immediate")
        _check_salt(con, fingerprint)
        if not con.execute("select 1 from suppression_salt").fetchone():
            con.execute("insert into suppression_salt values (?)", (fingerprint,))
        now = time.time()
        added = con.executemany(
            "insert or ignore into suppressed values (?, ?)", [(h, now) for h in sorted(set(hashes))]
        ).rowcount
        con.execute("commit")
    finally:
        con.close()
    return added


def prepare(con: duckdb.DuckDBPyConnection, hashes: Iterable[str]) -> None:
    """Make `hashes` and the salt available to row_matches() on this connection."""
    con.execute(f"set variable {SALT_VARIABLE} = ?", [ids.salt()])
    con.register(TABLE, pa.table({"hash": pa.array(sorted(set(hashes)), pa.string())}))


def _hashes(source: str, field) -> list[str]:
    """SQL hash expressions of every identifier a row of `source` carries; `field(column)` is the SQL of a column."""
    identity = ids.identity_sources()[source]
    country = ids.country_column(source)
    out = [ids.hash_sql(f"'record:{identity.prefix}:' || {ids.id_sql(field(identity.key))}", SALT_VARIABLE)]
    for kind, column in identity.identifiers.items():
        value = ids.value_sql(kind, field(column), field(country) if country else None)
        out.append(ids.hash_sql(f"'{kind}:' || {value}", SALT_VARIABLE))
    return out


def row_matches(source: str, columns: Iterable[str]) -> str:
    """SQL: the row (a landing file's or lake partition's, columns named as in the contract) is a suppressed
    person's. Only columns present are looked at; NULL never matches."""
    present = {c.lower(): c for c in columns}

    def field(column: str) -> str:
        name = present.get(column.lower())
        return f'"{name}"' if name else "cast(null as varchar)"

    return _any_in(_hashes(source, field))


def quarantined_matches(source: str, delimiter: str) -> str:
    """SQL: a quarantined row (raw_fields by column name; an unsplit line only as raw_line) is a suppressed
    person's. An unsplit line is tried field by field as every identifier kind of its source."""
    by_field = _any_in(_hashes(source, lambda c: f"raw_fields['{c}']"))
    identity = ids.identity_sources()[source]
    kinds = ["record", *identity.identifiers]
    token_hashes = []
    for kind in kinds:
        value = (
            f"'record:{identity.prefix}:' || {ids.id_sql('t')}" if kind == "record"
            else f"'{kind}:' || {ids.value_sql(kind, 't')}"
        )  # fmt: skip
        token_hashes.append(ids.hash_sql(value, SALT_VARIABLE))
    tokens = f"string_split(replace(raw_line, '\"', ''), '{delimiter}')"
    # (no subquery inside a lambda: each token's hashes as lists, then one lookup)
    per_kind = ", ".join(f"list_transform({tokens}, lambda t: {h})" for h in token_hashes)
    by_token = f"list_has_any(flatten([{per_kind}]), (select list(hash) from {TABLE}))"
    return f"(coalesce({by_field}, false) or (raw_fields is null and coalesce({by_token}, false)))"


def _any_in(hashes: list[str]) -> str:
    return "(" + " or ".join(f"coalesce({h} in (select hash from {TABLE}), false)" for h in hashes) + ")"


def without_suppressed(source: str, table: pa.Table) -> tuple[pa.Table, int]:
    """Rows fetched from an API (GA4) without those of suppressed people, and how many were left out."""
    import pyarrow.compute as pc

    suppressed = current()
    if not suppressed or not table.num_rows:
        return table, 0
    with duckdb.connect() as con:
        prepare(con, suppressed.hashes)
        con.register("hg_fetched", table)
        test = row_matches(source, table.column_names)
        theirs = con.sql(f"select coalesce({test}, false) as theirs from hg_fetched").to_arrow_table()["theirs"]
    kept = table.filter(pc.invert(theirs.combine_chunks()))
    return kept, table.num_rows - kept.num_rows
