"""An identifier -> the person: every record identity_map links to them, and the hashed identifiers of each.

The warehouse resolves the person as the last night built it: the records carrying the identifier, the customers
(customer_key) those records belong to, all records of those customers, and every identifier of those records
that no other customer's record carries (a shared family address is not suppressed for the partner; the shared
record itself is theirs by its record key). Without a warehouse (nothing built yet) the identifier alone is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from hourglass import settings
from hourglass.privacy import identifiers as ids
from hourglass.sources import EMAIL_PATTERN

# What the command line asks for -> the identifier kind int_identity_links uses.
KINDS = {"email": "email", "phone": "phone", "customer_id": "crm_id"}


class UnknownIdentifier(ValueError):
    """The value given is no e-mail address or phone number by the project's rules."""


@dataclass
class Person:
    kind: str
    hashes: set[str] = field(default_factory=set)  # every identifier, hashed: what the suppression list keeps
    customer_keys: set[str] = field(default_factory=set)
    records: set[tuple[str, str, str]] = field(default_factory=set)  # (record_id, source, source_key)

    @property
    def record_ids(self) -> set[str]:
        return {r for r, _, _ in self.records}

    def counts(self) -> dict[str, int]:
        """What resolving found, as numbers only (for the audit log)."""
        return {"customers": len(self.customer_keys), "records": len(self.records), "identifiers": len(self.hashes)}


def resolve(option: str, value: str) -> Person:
    kind = KINDS[option]
    normal = ids.normalise(kind, value)
    if not normal or (kind == "email" and not re.fullmatch(EMAIL_PATTERN, normal)):
        raise UnknownIdentifier(f"the {option} given is not one by hourglass' rules (docs/sources.md)")
    person = Person(kind=kind, hashes={ids.hashed(ids.identifier(kind, normal))})
    if not settings.warehouse_path().exists():
        return person
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        tables |= {name for (name,) in con.execute("select view_name from duckdb_views()").fetchall()}
        if not {"int_identity_links", "identity_map"} <= tables:
            return person
        seeds = con.execute(
            "select record_id from int_identity_links where identifier_type = ? and trim(identifier_value) = ?",
            [kind, normal],
        ).fetchall()
        if not seeds:
            return person
        person.customer_keys = {
            k
            for (k,) in con.execute(
                "select distinct customer_key from identity_map where record_id in (select unnest(?))",
                [[s for (s,) in seeds]],
            ).fetchall()
        }
        keys = sorted(person.customer_keys)
        person.records = {
            tuple(row)
            for row in con.execute(
                "select record_id, source, source_key from identity_map where customer_key in (select unnest(?))",
                [keys],
            ).fetchall()
        }
        own = con.execute(
            """
            select links.identifier_type, trim(links.identifier_value)
            from int_identity_links as links
            join identity_map as owner on links.record_id = owner.record_id
            where links.identifier_value is not null
            group by 1, 2
            having bool_and(owner.customer_key in (select unnest(?)))
               and bool_or(owner.customer_key in (select unnest(?)))
            """,
            [keys, keys],
        ).fetchall()
    person.hashes |= {ids.hashed(ids.identifier(t, v)) for t, v in own}
    person.hashes |= {ids.hashed(ids.record_identifier(r)) for r in person.record_ids}
    return person
