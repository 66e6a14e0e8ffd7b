"""Consent as it stands at send time, read from the lake rather than from the audience.

An audience is built from the warehouse at some point; a person may unsubscribe (in the CRM or by an ESP
unsubscribe or spam complaint) after that. Activation therefore decides each recipient's consent per purpose
from the raw lake, where newly landed files arrive without a dbt build. The rules are not written here: this
module renders the dbt macro `consent_states` (dbt_project/macros/consent.sql) with jinja2 over the lake's
Parquet files, the same macro the audiences' consent columns (int_customer_consent) come from. The rules:

- Decisions: the newest version of the CRM record (by updated_at) with each `consent_<purpose>` that is not
  empty; each lead's newest delivery with its consents (`lead_consent_purposes`), by its e-mail address; each ESP
  `unsubscribe` or `spam_complaint` event (compared lower-cased and trimmed) as a refusal of every e-mail
  consent of its address, or of the address its subscriber id has in other events. Addresses are compared
  lower-cased and trimmed; true/false are the spellings the landing contract accepts (docs/sources.md).
- A decision's time is its own timestamp (`consent_<purpose>_at`, the event's `event_at`). A refusal without
  one takes its record's time (`updated_at`, a lead's `created_at`); a grant without one has no time: it is
  older than every refusal, so it never overrides a withdrawal, and counts only where nothing was refused.
- The latest decision wins; at the same moment a refusal wins; no decision is no consent.
- Fail closed: a quarantined row of the CRM, the leads or the ESP events that touches a consent (a consent
  field or its timestamp holds something; an ESP withdrawal event; any line the reader could not split into
  fields) and names the person (CRM id, address, the subscriber id's address; any field of an unsplit line)
  makes that consent unclear. A timestamp that does not parse quarantines its row, so it is unclear too. It
  stays unclear until a clean row with the same key (customer_id, lead_id, event_id) lands on a later load
  date, or a decision stamped after the day the quarantined row landed is the latest.

An unclear consent is not given: activation suppresses it with the reason `consent_unclear`, a refusal or no
decision with `no_consent`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from hourglass import dbt_macros, lake, landing
from hourglass.sources import CONSENT_SOURCES, CONTRACTS

NO_CONSENT, CONSENT_UNCLEAR = "no_consent", "consent_unclear"  # the suppression reasons


@dataclass(frozen=True)
class Consent:
    """One person's consents, each '<channel>_<purpose>': `in` asks whether it is granted."""

    granted: frozenset[str] = frozenset()
    unclear: frozenset[str] = frozenset()

    def __contains__(self, consent: object) -> bool:
        return consent in self.granted

    def refusal(self, consent: str) -> str:
        """Why a consent that is not granted holds a message back."""
        return CONSENT_UNCLEAR if consent in self.unclear else NO_CONSENT


@cache
def _rules() -> Any:
    """The dbt macros of consent.sql as callables, rendering DuckDB SQL."""
    return dbt_macros.macros("consent.sql")


def _parquet(dataset: Path) -> str:
    return f"read_parquet('{lake.files_glob(dataset)}', hive_partitioning = true, union_by_name = true)"


def _relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each source's rows and quarantine in the lake; an empty table of the right shape where there are no files.
    The quarantine always has today's columns: a file from before raw_fields reads as lines never split."""
    relations = {}
    for source in CONSENT_SOURCES:
        rows, quarantine = lake.raw_dataset(source), lake.quarantine_dataset(source)
        relations[source] = (
            _parquet(rows)
            if lake.has_files(rows)
            else f"(select *, cast(null as date) as load_date from ({landing.empty_rows_sql(CONTRACTS[source])}))"
        )
        empty = f"{source}_quarantine_empty"
        con.register(
            empty, landing.QUARANTINE_SCHEMA.empty_table().append_column("load_date", pa.array([], pa.date32()))
        )
        relations[f"{source}_quarantine"] = (
            f"(select * from {_parquet(quarantine)} union all by name select * from {empty})"
            if lake.has_files(quarantine)
            else empty
        )
    return relations


def _states_sql(people: str, relations: Mapping[str, str]) -> str:
    """consent_states over `people` (customer_key, customer_id, email) and the sources' relations."""
    return str(
        _rules().consent_states(
            people,
            *(relations[s] for s in CONSENT_SOURCES),
            *(relations[f"{s}_quarantine"] for s in CONSENT_SOURCES),
        )
    )


def current_consent(rows: Iterable[Mapping[str, Any]]) -> dict[str, Consent]:
    """customer_key -> the consents of that person, for the people in `rows`."""
    people = pa.Table.from_pylist(
        [
            {"customer_key": r["customer_key"], "customer_id": r.get("customer_id"), "email": r.get("email")}
            for r in rows
        ],
        schema=pa.schema([("customer_key", pa.string()), ("customer_id", pa.string()), ("email", pa.string())]),
    )
    with duckdb.connect() as con:
        con.register("people", people)
        result = con.sql(
            f"""
            select
                customer_key,
                coalesce(list_sort(list(purpose) filter (where state = 'granted')), []),
                coalesce(list_sort(list(purpose) filter (where state = 'unclear')), [])
            from ({_states_sql("people", _relations(con))})
            where state <> 'refused'
            group by customer_key
            """
        ).fetchall()
    # People share a handful of combinations: one Consent each, not one per person.
    shared: dict[tuple, Consent] = {}
    found = dict.fromkeys(people.column("customer_key").to_pylist(), Consent())
    for customer_key, granted, unclear in result:
        combination = (tuple(granted), tuple(unclear))
        if combination not in shared:
            shared[combination] = Consent(frozenset(granted), frozenset(unclear))
        found[customer_key] = shared[combination]
    return found
