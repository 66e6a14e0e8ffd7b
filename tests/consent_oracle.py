"""The consent rules of docs/campaigns.md worked out again in plain Python, as an oracle for tests.

It reads the lake as the real loader left it (the clean rows and the quarantine, with pyarrow) and applies the
rules row by row, without hourglass.consent or the SQL it renders: where the two disagree, one of them is wrong.
"""

import re
from collections import defaultdict
from datetime import date, datetime, timedelta

import duckdb

from hourglass import lake
from hourglass.sources import CONSENT_PURPOSES, LEAD_CONSENT_PURPOSES

WITHDRAWALS = {"unsubscribe", "spam_complaint"}
EMAIL_PURPOSES = [p for p in CONSENT_PURPOSES if p.startswith("email_")]
KEYS = {"crm_customers": "customer_id", "leads": "lead_id", "esp_events": "event_id"}


def _rows(dataset) -> list[dict]:
    """Every row of a lake dataset over all load dates, as dicts."""
    if not lake.has_files(dataset):
        return []
    found = duckdb.sql(
        f"select * from read_parquet('{lake.files_glob(dataset)}', hive_partitioning = true, union_by_name = true)"
    )
    return [dict(zip(found.columns, row, strict=True)) for row in found.fetchall()]


def _address(value) -> str | None:
    return (value or "").strip().lower() or None


def _present(value) -> bool:
    return bool((value or "").strip())


def consent_states(people: list[dict]) -> dict[str, dict[str, str]]:
    """customer_key -> {purpose: granted | refused | unclear} for `people` (customer_key, customer_id, email);
    a purpose never decided is absent."""
    raw = {source: _rows(lake.raw_dataset(source)) for source in KEYS}
    quarantined = {source: _rows(lake.quarantine_dataset(source)) for source in KEYS}
    decisions = defaultdict(list)  # (subject, purpose) -> [(time or None, granted)]

    newest = {}
    for row in raw["crm_customers"]:
        rank = (row["updated_at"], row["load_date"], row["_source_file"])
        if row["customer_id"] not in newest or rank > newest[row["customer_id"]][0]:
            newest[row["customer_id"]] = (rank, row)
    for _, row in newest.values():
        for p in CONSENT_PURPOSES:
            if row[f"consent_{p}"] is not None:
                granted = row[f"consent_{p}"]
                moment = row[f"consent_{p}_at"] or (None if granted else row["updated_at"])
                decisions[("crm:" + row["customer_id"], p)].append((moment, granted))
    forms = {}
    for row in raw["leads"]:
        rank = (row["load_date"], row["_source_file"])
        if row["lead_id"] not in forms or rank > forms[row["lead_id"]][0]:
            forms[row["lead_id"]] = (rank, row)
    for _, row in forms.values():
        for p in LEAD_CONSENT_PURPOSES:
            if row[f"consent_{p}"] is not None and _address(row["email"]):
                granted = row[f"consent_{p}"]
                moment = row[f"consent_{p}_at"] or (None if granted else row["created_at"])
                decisions[("email:" + _address(row["email"]), p)].append((moment, granted))
    known = defaultdict(set)  # subscriber id -> addresses in its events
    for row in raw["esp_events"]:
        if _address(row["email"]):
            known[row["subscriber_id"]].add(_address(row["email"]))
    address_of = {subscriber: min(addresses) for subscriber, addresses in known.items()}
    for row in raw["esp_events"]:
        if (row["event_type"] or "").strip().lower() in WITHDRAWALS:
            address = _address(row["email"]) or address_of.get(row["subscriber_id"])
            for p in EMAIL_PURPOSES if address else []:
                decisions[("email:" + address, p)].append((row["event_at"], False))

    # Quarantined rows: what each touches, whom it names, the keys a clean redelivery would carry.
    marks = defaultdict(list)  # (subject, purpose) -> [load date]
    clean_keys = {source: defaultdict(list) for source in KEYS}
    for source, key in KEYS.items():
        for row in raw[source]:
            clean_keys[source][row[key]].append(row["load_date"])
    for source, rows in quarantined.items():
        for row in rows:
            fields = dict(row["raw_fields"]) if row["raw_fields"] is not None else None
            tokens = [t.strip(' "') for t in re.split(r"[,;\t]", row["raw_line"] or "")] if fields is None else []
            if fields is None:
                touched = {
                    "crm_customers": CONSENT_PURPOSES,
                    "leads": LEAD_CONSENT_PURPOSES,
                    "esp_events": EMAIL_PURPOSES if any(t.lower() in WITHDRAWALS for t in tokens) else [],
                }[source]
                names = {"email:" + _address(t) for t in tokens if _address(t)}
                names |= {"crm:" + t for t in tokens} if source == "crm_customers" else set()
                names |= (
                    {"email:" + address_of[t] for t in tokens if t in address_of} if source == "esp_events" else set()
                )
                keys = tokens
            else:
                if source == "esp_events":
                    withdrawal = (fields.get("event_type") or "").strip().lower() in WITHDRAWALS
                    touched = EMAIL_PURPOSES if withdrawal else []
                else:
                    recorded = CONSENT_PURPOSES if source == "crm_customers" else LEAD_CONSENT_PURPOSES
                    touched = [p for p in recorded if _present(fields.get(f"consent_{p}"))
                               or _present(fields.get(f"consent_{p}_at"))]  # fmt: skip
                names = {"email:" + _address(fields.get("email"))} if _address(fields.get("email")) else set()
                if source == "crm_customers" and fields.get("customer_id") is not None:
                    names.add("crm:" + fields["customer_id"])
                if source == "esp_events" and fields.get("subscriber_id") in address_of:
                    names.add("email:" + address_of[fields["subscriber_id"]])
                keys = [fields.get(KEYS[source])]
            if any(day > row["load_date"] for k in keys for day in clean_keys[source].get(k, [])):
                continue  # delivered again, clean, on a later day
            for subject in names:
                for p in touched:
                    marks[(subject, p)].append(row["load_date"])

    states = {}
    for person in people:
        subjects = []
        if person["customer_id"] is not None:
            subjects.append("crm:" + person["customer_id"])
        if _address(person["email"]):
            subjects.append("email:" + _address(person["email"]))
        states[person["customer_key"]] = found = {}
        for p in CONSENT_PURPOSES:
            made = [d for s in subjects for d in decisions[(s, p)]]
            landed = [day for s in subjects for day in marks[(s, p)]]
            # the latest decision; a grant without its own time is older than anything; a refusal wins a tie
            latest = max(made, key=lambda d: (d[0] is not None, d[0] or datetime.min, not d[1]), default=None)
            if landed and (latest is None or latest[0] is None or latest[0] < _day_after(max(landed))):
                found[p] = "unclear"
            elif latest is not None:
                found[p] = "granted" if latest[1] else "refused"
    return states


def _day_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time())
