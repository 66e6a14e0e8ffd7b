"""Consent as it stands at send time, read from the lake rather than from the audience.

An audience is built from the warehouse at some point; a person may unsubscribe (in the CRM or by an ESP
unsubscribe or spam complaint) after that. Activation therefore looks up each recipient's latest decision
per channel and purpose in the raw lake, where newly landed files arrive without a dbt build. The latest
decision wins; on a tie a refusal wins; no decision at all means no consent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pyarrow as pa

from hourglass import lake

# (channel, purpose) pairs the CRM records, as columns consent_<channel>_<purpose>[_at].
CRM_CONSENTS = (("email", "marketing"), ("email", "newsletter"), ("sms", "marketing"), ("ads", "personalisation"))
# ESP events that withdraw every e-mail consent of the address.
ESP_WITHDRAWALS = ("unsubscribe", "spam_complaint")
# The recipients' addresses, as the decisions name them (`people` is registered by current_consent).
RECIPIENT_EMAILS = "select lower(trim(email)) from people where email is not null"


def _source(name: str) -> str | None:
    if not lake.has_files(lake.raw_dataset(name)):
        return None
    return f"read_parquet('{lake.raw_glob(name)}', hive_partitioning = true, union_by_name = true)"


def _decisions_sql() -> str | None:
    parts = []
    crm = _source("crm_customers")
    if crm:
        # Only the recipients' records: the CRM holds everyone, a campaign reaches a few of them.
        latest = (
            f"(select * from {crm} where customer_id in (select customer_id from people)"
            " qualify row_number() over (partition by customer_id order by updated_at desc, load_date desc) = 1)"
        )
        # Consent columns are optional in the CRM export: a column no delivery has carried records no decision.
        present = set(duckdb.sql(f"select * from {crm} limit 0").columns)
        for channel, purpose in CRM_CONSENTS:
            column = f"consent_{channel}_{purpose}"
            if column not in present:
                continue
            decided_at = f"coalesce({column}_at, updated_at)" if f"{column}_at" in present else "updated_at"
            parts.append(
                f"select 'crm:' || customer_id as subject, '{channel}' as channel, '{purpose}' as purpose,"
                f" {column} as granted, {decided_at} as decided_at"
                f" from {latest} where {column} is not null"
            )
    leads = _source("leads")
    if leads:
        parts.append(
            "select 'email:' || lower(trim(email)), 'email', 'marketing', consent_email_marketing,"
            f" coalesce(consent_email_marketing_at, created_at) from {leads}"
            f" where consent_email_marketing is not null and lower(trim(email)) in ({RECIPIENT_EMAILS})"
        )
    esp = _source("esp_events")
    if esp:
        kinds = ", ".join(f"'{k}'" for k in ESP_WITHDRAWALS)
        # A withdrawal names its address, else the address its subscriber id is known by: looked up only for
        # those events (scanning every event's address cost 3.6 s a campaign at 1M customers, this 0.5 s).
        parts.append(
            f"""select * from (
                with withdrawals as (
                    select subscriber_id, nullif(lower(trim(email)), '') as email, event_at
                    from {esp} where event_type in ({kinds})
                ),
                known as (
                    select subscriber_id, any_value(lower(trim(email))) as email from {esp}
                    where subscriber_id in (select subscriber_id from withdrawals where email is null)
                    and nullif(trim(email), '') is not null
                    group by subscriber_id
                )
                select 'email:' || coalesce(w.email, known.email), 'email', p.purpose, false, w.event_at
                from withdrawals as w left join known using (subscriber_id)
                cross join (values ('marketing'), ('newsletter')) as p(purpose)
                where coalesce(w.email, known.email) in ({RECIPIENT_EMAILS})
            )"""
        )
    return "\nunion all\n".join(parts) or None


def current_consent(rows: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """customer_key -> the granted '<channel>_<purpose>' consents, for the people in `rows`."""
    people = pa.Table.from_pylist(
        [
            {"customer_key": r["customer_key"], "customer_id": r.get("customer_id"), "email": r.get("email")}
            for r in rows
        ],
        schema=pa.schema([("customer_key", pa.string()), ("customer_id", pa.string()), ("email", pa.string())]),
    )
    granted: dict[str, set[str]] = {key: set() for key in people.column("customer_key").to_pylist()}
    sql = _decisions_sql()
    if sql is None:  # an empty lake: nobody has consented to anything
        return granted
    with duckdb.connect() as con:
        con.register("people", people)
        result = con.sql(
            f"""
            with decisions as ({sql}),
            subjects as (
                select customer_key, 'crm:' || customer_id as subject from people where customer_id is not null
                union all
                select customer_key, 'email:' || lower(trim(email)) from people where email is not null
            ),
            latest as (
                select s.customer_key, d.channel, d.purpose, d.granted
                from subjects as s inner join decisions as d on s.subject = d.subject
                qualify row_number() over (
                    partition by s.customer_key, d.channel, d.purpose order by d.decided_at desc, d.granted asc
                ) = 1
            )
            select customer_key, channel || '_' || purpose from latest where granted
            """
        ).fetchall()
    for customer_key, consent in result:
        granted[customer_key].add(consent)
    return granted
