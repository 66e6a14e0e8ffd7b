"""What identifies a person in each source, and the salted hash hourglass keeps of it instead of the value.

An identifier is `kind:value`, the value normalised by the project's single rules, so that the hash matches however
a source writes it: e-mail by dbt's macro normalise_email (trimmed, lower case), phone numbers by macros/phone.sql
(E.164, hourglass/phone.py), ids trimmed. A record is identified by `record:<record_id>` as identity_map names it
(`lead:L0000001`). The hash is SHA-256 of the salt, a unit separator and the identifier, hex: without the salt
(HOURGLASS_PRIVACY_SALT) nobody can test a list of addresses against the suppression entries.

Which columns of which source carry which identifier is read from the dbt model int_identity_links, the one place
that lists them for identity resolution.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hourglass import dbt_macros, phone, settings
from hourglass.sources import CONTRACTS

SALT_VAR = "HOURGLASS_PRIVACY_SALT"
SEPARATOR = "\x1f"
IDENTITY_LINKS = settings.DBT_PROJECT_DIR / "models" / "intermediate" / "int_identity_links.sql"


@dataclass(frozen=True)
class SourceIdentity:
    """One source: its record prefix in identity_map, its key column and identifier columns."""

    source: str
    prefix: str
    key: str
    identifiers: dict[str, str]  # identifier kind -> column


@cache
def identity_sources() -> dict[str, SourceIdentity]:
    """The sources as int_identity_links lists them (its Jinja `sources` list is a Python literal)."""
    text = IDENTITY_LINKS.read_text(encoding="utf-8")
    found = re.search(r"{%-?\s*set sources\s*=\s*(\[.*?\])\s*-?%}", text, re.S)
    if not found:
        raise RuntimeError(f"{IDENTITY_LINKS} no longer sets `sources`: hourglass/privacy/identifiers.py reads it")
    sources = {}
    for source, prefix, _model, key, identifiers in ast.literal_eval(found.group(1)):
        sources[source] = SourceIdentity(source, prefix, key, identifiers)
    return sources


def salt_file() -> Path:
    return settings.home() / "privacy" / "salt"


def salt() -> str:
    """HOURGLASS_PRIVACY_SALT, else a random salt made once and kept in HOURGLASS_HOME/privacy/salt (mode 600).

    Set it in production and keep it outside HOURGLASS_HOME; it must never change while suppression entries exist
    (suppression.py refuses a salt other than the one its entries were made with).
    """
    value = os.environ.get(SALT_VAR)
    if value:
        return value
    path = salt_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def salt_fingerprint(value: str) -> str:
    """What tells two salts apart without revealing either."""
    return hashlib.sha256(f"hourglass-salt{SEPARATOR}{value}".encode()).hexdigest()[:16]


def hashed(identifier: str, salt_value: str | None = None) -> str:
    """The salted hash of `kind:value` (the value already normalised)."""
    return hashlib.sha256(f"{salt_value or salt()}{SEPARATOR}{identifier}".encode()).hexdigest()


def email_sql(column: str) -> str:
    """SQL: the e-mail in `column` as it is matched across systems (dbt macro normalise_email)."""
    return str(dbt_macros.macros("normalise_contact.sql").normalise_email(column)).strip()


def id_sql(column: str) -> str:
    return f"nullif(trim(cast({column} as varchar)), '')"


def value_sql(kind: str, column: str, country: str | None = None) -> str:
    """SQL: the normalised value of an identifier of `kind` in `column`."""
    if kind == "email":
        return email_sql(column)
    if kind == "phone":
        return phone.sql(f"cast({column} as varchar)", country)
    return id_sql(column)


def hash_sql(identifier: str, salt_variable: str = "hg_privacy_salt") -> str:
    """SQL: the salted hash of the identifier expression (NULL stays NULL); the salt is a DuckDB variable, so it
    appears in no query text."""
    return f"sha256(getvariable('{salt_variable}') || chr(31) || {identifier})"


def normalise(kind: str, value: str) -> str | None:
    """One value normalised in Python by the same rules (for an identifier typed on the command line)."""
    import duckdb

    if kind == "phone":
        return phone.normalise([value])[0]
    with duckdb.connect() as con:
        return con.execute(f"select {value_sql(kind, '$v')}", {"v": value}).fetchall()[0][0]


def identifier(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def record_identifier(record_id: str) -> str:
    return f"record:{record_id}"


def country_column(source: str) -> str | None:
    """The column that places a nationally written phone number, where the source has one."""
    return "country" if "country" in CONTRACTS.get(source, CONTRACTS["leads"]).column_names else None
