"""The rules that hold on every send, each against a real channel server on loopback.

Each test builds a small world in a temporary HOURGLASS_HOME: CRM consent landed through the real loader into
the lake, an audience export as dbt would write it, and the real SMTP / HTTP servers.
"""

import email
import email.utils
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import duckdb
import fault_log
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import AS_OF, write_landing
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hourglass import activation, lake, landing, settings
from hourglass.campaigns import Campaign
from hourglass.channels.ads import AdAudienceResource, hashed_identifiers, normalise_email, normalise_phone
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource
from hourglass.ledger import Ledger
from hourglass.sample.channel_servers import LoopbackHttp, LoopbackSmtp
from hourglass.sources import CONTRACTS

SOAK = bool(os.environ.get("HOURGLASS_SOAK"))

ABANDONERS = Campaign(
    name="workshop_signup_abandoners",
    channels=("email",),
    template="workshop_signup_abandoners",
    purpose="marketing",
    holdout_share=0.2,
    cooldown_days=7,
    priority=10,
    description="",
)


def person(i: int, **overrides) -> dict:
    return {
        "customer_id": f"C{i:04d}",
        "first_name": f"Naam{i}",
        "email": f"persoon{i}@example.nl",
        "phone": f"+3161234{i:04d}",
        "language": "nl" if i % 3 else "en",
        "created_at": f"{AS_OF}T08:00:00",
        "updated_at": f"{AS_OF}T08:00:00",
        "consent_email_marketing": "1",
        "consent_email_marketing_at": f"{AS_OF}T08:00:00",
        "consent_sms_marketing": "1",
        "consent_sms_marketing_at": f"{AS_OF}T08:00:00",
        **overrides,
    }


def land(home, source: str, name: str, rows: list[dict]) -> None:
    write_landing(home, source, name, rows)
    landing.load_source(CONTRACTS[source], force=True)


def write_audience(name: str, people: list[dict], **extra) -> list[dict]:
    rows = [
        {
            "customer_key": f"k-{p['customer_id']}",
            "customer_id": p["customer_id"],
            "email": p["email"] or None,
            "phone": p["phone"] or None,
            "first_name": p["first_name"],
            "language": p["language"],
            "lifecycle_stage": "active",
            "workshop_name": "Keramiek",
            **extra,
        }
        for p in people
    ]
    settings.ensure_audience_dir()
    pq.write_table(pa.Table.from_pylist(rows), settings.audience_export(name))
    return rows


@pytest.fixture
def world(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
    monkeypatch.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
    people = [person(i) for i in range(1, 121)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    return home, people


def channels(smtp=None, sms=None, webhook=None) -> activation.Channels:
    return activation.Channels(
        outbox=OutboxResource(),
        smtp=SmtpResource(host="127.0.0.1", port=smtp.port, concurrency=3, tls="off") if smtp else SmtpResource(),
        sms=SmsResource(url=sms.url) if sms else SmsResource(),
        webhook=WebhookResource(url=webhook.url, secret="geheim") if webhook else WebhookResource(),
        ad_audiences=AdAudienceResource(),
    )


def receipts(campaign: str) -> dict[str, tuple[str, str | None]]:
    """customer_key -> (status, reason) of the campaign's latest receipt."""
    rows = duckdb.sql(
        f"select customer_key, status, reason from read_parquet('{lake.raw_glob('activation_receipts')}')"
        f" where campaign = '{campaign}' order by recorded_at"
    ).fetchall()
    return {key: (status, reason) for key, status, reason in rows}


def test_email_over_smtp_honours_consent_changed_after_the_audience_was_built(world):
    home, people = world
    rows = write_audience(ABANDONERS.name, people)
    # After the audience was built: C0003 withdraws in the CRM, C0004 unsubscribes in the e-mail system.
    late = person(3, updated_at=f"{AS_OF}T09:00:00", consent_email_marketing="0")
    late["consent_email_marketing_at"] = f"{AS_OF}T09:00:00"
    land(home, "crm_customers", f"crm_customers_{AS_OF}_late.csv", [*people, late])
    unsubscribe = {"event_id": "E1", "subscriber_id": "S4", "email": "PERSOON4@example.nl ",
                   "event_type": "unsubscribe", "event_at": f"{AS_OF}T09:15:00"}  # fmt: skip
    land(home, "esp_events", f"esp_events_{AS_OF}.csv", [unsubscribe])

    with LoopbackSmtp() as smtp:
        result = activation.run_campaign(ABANDONERS, [ABANDONERS], channels(smtp=smtp), run_id="r1")
        got = {m["To"]: m for m in smtp.messages}

    withdrawn = {"k-C0003", "k-C0004"}  # not in the experiment at all: the holdout is drawn among the rest
    held_out = {
        r["customer_key"]
        for r in rows
        if r["customer_key"] not in withdrawn and activation.in_holdout(ABANDONERS.name, r["customer_key"], 0.2)
    }
    expected = {r["email"] for r in rows if r["customer_key"] not in held_out | withdrawn}
    assert set(got) == expected
    fault_log.count(fault_log.CONSENT, len(set(got) & {"persoon3@example.nl", "persoon4@example.nl"}))
    fault_log.count(fault_log.HOLDOUT, len({f"persoon{int(k[3:])}@example.nl" for k in held_out} & set(got)))
    fault_log.count("consent changes after the audience honoured", 2)
    assert result["result_sent"] == len(expected) and result["held_out"] == len(held_out)
    assert result["email_suppressed_no_consent"] == 2
    seen = receipts(ABANDONERS.name)
    assert seen["k-C0003"] == ("suppressed", "no_consent") and seen["k-C0004"] == ("suppressed", "no_consent")
    assert all(seen[k] == ("held_out", "holdout") for k in held_out)

    message = email.message_from_bytes(next(iter(got.values())).as_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Keramiek" in text and "utm_campaign=workshop_signup_abandoners" in text and "hg_vid=" in text
    assert '<a href="https://' in html and "Keramiek" in html
    key = message["X-Hourglass-Key"]
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.states([key])[key][0] == "sent"


def test_consent_reads_a_crm_export_without_its_optional_consent_columns(tmp_path, monkeypatch):
    """Only the e-mail marketing consent delivered: the others are no decision (no consent), not an error."""
    from hourglass.consent import current_consent

    monkeypatch.setenv("HOURGLASS_HOME", str(tmp_path))
    people = [person(1), person(2, consent_email_marketing="0")]
    crm = CONTRACTS["crm_customers"]
    columns = [
        c for c in crm.column_names if not c.startswith(("consent_email_newsletter", "consent_ads", "consent_sms"))
    ]
    rows = [{k: v for k, v in p.items() if k in columns} for p in people]
    write_landing(tmp_path, "crm_customers", f"crm_customers_{AS_OF}.csv", rows, columns=columns)
    landing.load_source(crm, force=True)
    audience = [{"customer_key": f"k{p['customer_id']}", "customer_id": p["customer_id"], "email": p["email"]}
                for p in people]  # fmt: skip
    assert {key: consent.granted for key, consent in current_consent(audience).items()} == {
        "kC0001": {"email_marketing"},
        "kC0002": set(),
    }


def test_holdout_is_deterministic_and_close_to_its_share():
    keys = [f"customer-{i}" for i in range(20_000)]
    first = {k for k in keys if activation.in_holdout("winback_lapsed", k, 0.2)}
    again = {k for k in keys if activation.in_holdout("winback_lapsed", k, 0.2)}
    other = {k for k in keys if activation.in_holdout("welcome_new_members", k, 0.2)}
    assert first == again
    assert abs(len(first) / len(keys) - 0.2) < 0.015  # binomial sd is 0.003
    assert abs(len(first & other) / len(keys) - 0.04) < 0.01  # independent per campaign
    assert not any(activation.in_holdout("winback_lapsed", k, 0.0) for k in keys)


def test_frequency_cap_goes_to_the_higher_priority_campaign_whichever_runs_first(world, monkeypatch):
    home, people = world
    monkeypatch.setenv("HOURGLASS_FREQUENCY_CAP", "1")
    urgent = replace(ABANDONERS, holdout_share=0.25)
    later = replace(ABANDONERS, name="cross_sell_workshop_to_theatre", template="cross_sell_workshop_to_theatre",
                    priority=50, holdout_share=0.0)  # fmt: skip
    write_audience(urgent.name, people)
    write_audience(later.name, people)
    both = [urgent, later]

    with LoopbackSmtp() as smtp:
        activation.run_campaign(later, both, channels(smtp=smtp), run_id="r-later")  # the lower priority first
        activation.run_campaign(urgent, both, channels(smtp=smtp), run_id="r-urgent")
        per_person: dict[str, list[str]] = {}
        for m in smtp.messages:
            per_person.setdefault(m["To"], []).append(m["X-Hourglass-Campaign"])

    assert all(c == [urgent.name] for c in per_person.values())  # the cap: one marketing message per person
    urgent_held = {f"persoon{int(k[3:])}@example.nl" for k, (s, _) in receipts(urgent.name).items() if s == "held_out"}
    assert urgent_held and set(per_person) == {p["email"] for p in people} - urgent_held
    # A held-out person used up the cap as a sent one would have: the later campaign reaches nobody, so the urgent
    # campaign's comparison is not one of its message against the later campaign's.
    capped = [k for k, (s, r) in receipts(later.name).items() if r == "frequency_cap"]
    assert len(capped) == len(people)

    # The next day the same campaign is in its cooldown for everyone it reached or held out.
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", str(AS_OF.replace(day=AS_OF.day + 1)))
    monkeypatch.setenv("HOURGLASS_FREQUENCY_CAP", "5")
    with LoopbackSmtp() as smtp:
        result = activation.run_campaign(urgent, both, channels(smtp=smtp), run_id="r-next")
        assert len(smtp.messages) == 0
    assert result["email_suppressed_cooldown"] == len(people) and "held_out" not in result


def test_guard_stops_an_oversized_send_unless_approved(world):
    home, people = world
    write_audience(ABANDONERS.name, people[:40])
    with LoopbackSmtp() as smtp:
        activation.run_campaign(ABANDONERS, [ABANDONERS], channels(smtp=smtp), run_id="r1")
        sent_first = len(smtp.messages)
        write_audience(ABANDONERS.name, people)  # 40 -> 120 people: +200%
        seen = []
        with pytest.raises(activation.GuardError, match=r"120 people against 40.*nothing was sent"):
            activation.run_campaign(ABANDONERS, [ABANDONERS], channels(smtp=smtp), run_id="r2", observe=seen.append)
        assert len(smtp.messages) == sent_first
        assert seen and seen[0]["audience_size"] == 120 and seen[0]["email_to_send"] > 0  # the plan is on record
        activation.run_campaign(
            ABANDONERS, [ABANDONERS], channels(smtp=smtp), run_id="r3", approve_audience_change=True
        )
        assert len(smtp.messages) > sent_first


def test_failing_sms_does_not_stop_email_and_is_retried_with_backoff(world, monkeypatch):
    home, people = world
    # The first 30 people have no e-mail consent: the campaign reaches them by SMS.
    sms_only = [person(i, consent_email_marketing="0") for i in range(1, 31)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", sms_only + people[30:])
    campaign = replace(ABANDONERS, channels=("email", "sms"), holdout_share=0.0)
    write_audience(campaign.name, people)
    bad_number = person(7)["phone"]

    with LoopbackSmtp() as smtp, LoopbackHttp() as gateway:
        gateway.state.reject_field, gateway.state.reject_values = "to", {bad_number}
        gateway.fail(503, times=1000, retry_after="120")
        first = activation.run_campaign(campaign, [campaign], channels(smtp=smtp, sms=gateway), run_id="r1")
        fault_log.fault("SMS gateway answers 503 with Retry-After", gateway.state.requests)
        assert len(smtp.messages) == 90 and first["result_sent"] == 90
        assert first["result_sms_failed"] == 30 and not gateway.state.applied

        again = activation.run_campaign(campaign, [campaign], channels(smtp=smtp, sms=gateway), run_id="r2")
        assert again["result_waiting_retry"] == 30 and again["result_already_sent"] == 90  # Retry-After honoured

        gateway.state.faults.clear()
        monkeypatch.setenv("HOURGLASS_RETRY_BACKOFF_SECONDS", "0")
        with Ledger(settings.ledger_path()) as ledger:  # as if the two minutes had passed
            ledger._con.execute("update messages set next_attempt_at = 0 where status = 'failed'")
        third = activation.run_campaign(campaign, [campaign], channels(smtp=smtp, sms=gateway), run_id="r3")
        assert third["result_sent"] == 29 and third["result_sms_rejected"] == 1
        assert len(gateway.state.applied) == 29 and len(smtp.messages) == 90
        texts = [p["text"] for p in gateway.state.applied.values()]
        assert all("Keramiek" in t and "hg_vid=" in t for t in texts)
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(campaign.name) == {"sent": 119, "rejected": 1}
    assert receipts(campaign.name)["k-C0007"][0] == "rejected"


def test_a_failed_message_waits_the_configured_backoff_without_retry_after(world, monkeypatch):
    home, people = world
    campaign = replace(ABANDONERS, channels=("sms",), holdout_share=0.0)
    write_audience(campaign.name, people[:10])
    monkeypatch.setenv("HOURGLASS_RETRY_BACKOFF_SECONDS", "900")
    with LoopbackHttp() as gateway:
        gateway.fail(500, times=1000)  # no Retry-After: the ledger's own backoff decides
        started = time.time()
        report = activation.run_campaign(campaign, [campaign], channels(sms=gateway), run_id="r1")
        finished = time.time()
    assert report["result_sms_failed"] == 10
    with Ledger(settings.ledger_path()) as ledger:
        due = [row[0] for row in ledger._con.execute("select next_attempt_at from messages where status = 'failed'")]
    assert len(due) == 10 and all(started + 900 <= d <= finished + 900 for d in due)


def test_a_failing_webhook_ends_in_a_clean_resumable_failure_then_everyone_once(world):
    """The CRM write-back answers 500s, then 429 with Retry-After as an HTTP date, and 400 for one member: the
    e-mail goes out regardless, the failed calls wait their turn, and a later run completes them exactly once."""
    home, people = world
    campaign = replace(ABANDONERS, channels=("email", "webhook"), holdout_share=0.0)
    write_audience(campaign.name, people)
    in_two_minutes = email.utils.format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    with LoopbackHttp(secret="geheim") as crm:
        crm.state.reject_field, crm.state.reject_values = "customer_key", {"k-C0005"}
        crm.fail(500, times=40)
        crm.fail(429, times=20, retry_after=in_two_minutes)
        first = activation.run_campaign(campaign, [campaign], channels(webhook=crm), run_id="r1")
        fault_log.fault("webhook answers 500, 429 with Retry-After (HTTP date), 400", 60 + 1)
        assert first["result_webhook_failed"] == 60
        assert first["email_to_send"] == len(people) == first["result_sent"] - len(crm.state.applied)  # e-mail went

        again = activation.run_campaign(campaign, [campaign], channels(webhook=crm), run_id="r2")
        assert again["result_waiting_retry"] == 60  # backoff after the 500s, the HTTP date after the 429s
        with Ledger(settings.ledger_path()) as ledger:
            waits = dict(ledger._con.execute("select reason, min(next_attempt_at) - max(updated_at) from messages "
                                             "where status = 'failed' group by reason").fetchall())  # fmt: skip
        assert 100 < waits['HTTP 429: {"error": "injected"}'] <= 121  # Retry-After, read as a date

        with Ledger(settings.ledger_path()) as ledger:  # as if the waits were over
            ledger._con.execute("update messages set next_attempt_at = 0 where status = 'failed'")
        third = activation.run_campaign(campaign, [campaign], channels(webhook=crm), run_id="r3")
        fault_log.count(fault_log.RESUMED)
        assert "result_webhook_failed" not in third
        applied = [p["customer_key"] for p in crm.state.applied.values()]
    fault_log.count(fault_log.DUPLICATES, len(applied) - len(set(applied)))
    fault_log.count(fault_log.LOST, len(people) - 1 - len(set(applied)))
    assert sorted(applied) == sorted(f"k-{p['customer_id']}" for p in people if p["customer_id"] != "C0005")
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(campaign.name) == {"sent": 2 * len(people) - 1, "rejected": 1}


def test_a_send_killed_at_random_points_ends_with_everyone_messaged_exactly_once(world, dbt_manifest):
    """SIGKILL mid-send three times, then a plain re-run: every eligible person got one webhook call."""
    home, people = world
    people = [person(i) for i in range(1, 401)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    rows = write_audience("churn_risk_valuable", people, subscription="magazine")
    eligible = {
        r["customer_key"] for r in rows if not activation.in_holdout("churn_risk_valuable", r["customer_key"], 0.2)
    }
    with LoopbackHttp(secret="geheim", delay=0.004) as crm:
        env = {
            **os.environ,
            "HOURGLASS_WEBHOOK_URL": crm.url,
            "HOURGLASS_WEBHOOK_SECRET": "geheim",
            "HOURGLASS_SEND_BATCH": "10",
        }
        command = [sys.executable, "-m", "hourglass.cli", "activate", "churn_risk_valuable"]
        rng = random.Random(7)
        kills = sorted(rng.sample(range(20, len(eligible) - 20), 6 if SOAK else 3))
        for at in kills:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while crm.state.requests < at and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
            assert len(crm.state.applied) < len(eligible), "the kill came after the send had finished"
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-3000:]

        applied = {payload["customer_key"] for payload in crm.state.applied.values()}
        fault_log.fault("sends killed (SIGKILL), webhook", len(kills))
        fault_log.count(fault_log.RESUMED)
        fault_log.count("resent keys recognised by the receiver", sum(crm.state.replays.values()))
        fault_log.count(fault_log.DUPLICATES, len(crm.state.applied) - len(applied))
        fault_log.count(fault_log.LOST, len(eligible - applied))
        assert applied == eligible
        assert len(crm.state.applied) == len(eligible)  # each key applied once; resent keys were recognised
        assert all(p["campaign"] == "churn_risk_valuable" and "email" not in p for p in crm.state.applied.values())
    outbox = OutboxResource().path("email", "churn_risk_valuable", AS_OF.isoformat())
    keys = [json.loads(line)["key"] for line in outbox.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(eligible)  # the outbox, too, holds each e-mail once
    with Ledger(settings.ledger_path()) as ledger:
        # and the held-out people once each, for the cooldown and the frequency cap
        assert ledger.counts("churn_risk_valuable") == {
            "sent": 2 * len(eligible),
            "held_out": len(rows) - len(eligible),
        }


def test_a_send_over_plain_smtp_killed_mid_batch_resends_at_most_the_reported_in_flight_batch(world, dbt_manifest):
    """SMTP cannot recognise a resent message: after a SIGKILL mid-send, the re-run resends the batch that was in
    flight and reports it as possibly duplicated; nobody is missed and nothing beyond that batch arrives twice."""
    from hourglass.campaigns import audience_nodes
    from hourglass.project import manifest

    home, _ = world
    people = [person(i) for i in range(1, 301)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    by_name = {c.name: c for c in map(Campaign.from_manifest_node, audience_nodes(manifest()))}
    names = ["reengage_declining", "welcome_new_members"] + (["winback_lapsed"] if SOAK else [])
    batch = 10
    rng = random.Random(11)
    # Stalling every message a few milliseconds stands for a real server's latency: the kill lands mid-send.
    with LoopbackSmtp(stall_every=1, stall_seconds=0.003) as smtp:
        env = {**os.environ, "HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_PORT": str(smtp.port),
               "HOURGLASS_SMTP_TLS": "off", "HOURGLASS_SEND_BATCH": str(batch),
               "HOURGLASS_FREQUENCY_CAP": "10"}  # fmt: skip
        for name in names:  # one kill per campaign: each re-run's report covers its own kill
            campaign = by_name[name]
            rows = write_audience(name, people, days_since_joining=3, subscription="magazine")
            eligible = {
                r["email"] for r in rows if not activation.in_holdout(name, r["customer_key"], campaign.holdout_share)
            }
            command = [sys.executable, "-m", "hourglass.cli", "activate", name]
            before = len(smtp.messages)
            at = before + rng.randrange(20, len(eligible) - 20)
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120
            while smtp.count < at and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
            assert smtp.count - before < len(eligible), "the kill came after the send had finished"
            fault_log.fault("sends killed (SIGKILL), plain SMTP", 1)
            resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            assert resumed.returncode == 0, resumed.stderr[-3000:]
            fault_log.count(fault_log.RESUMED)
            result = dict(line.split(": ", 1) for line in resumed.stdout.splitlines() if ": " in line)
            reported = int(result.get("result_possibly_duplicated", 0))

            got = [m for m in smtp.messages[before:] if m["X-Hourglass-Campaign"] == name]
            keys = [m["X-Hourglass-Key"] for m in got]
            duplicates = len(keys) - len(set(keys))
            fault_log.count(fault_log.LOST, len(eligible - {m["To"] for m in got}))
            fault_log.count("possible SMTP duplicates reported", reported)
            fault_log.count("SMTP duplicates arrived (bounded by the reported)", duplicates)
            assert {m["To"] for m in got} == eligible  # everyone, nobody else
            assert len(set(keys)) == len(eligible)
            assert duplicates <= reported <= batch  # the in-flight batch bounds what may arrive twice, and is reported
            assert int(result["result_resumed_in_flight"]) == reported
            with Ledger(settings.ledger_path()) as ledger:
                assert ledger.counts(name) == {"sent": len(eligible), "held_out": len(rows) - len(eligible)}


def test_ad_audience_hashes_follow_the_platforms_rules():
    # Google Customer Match: gmail dots dropped, phone with '+'; Meta: dots kept, phone digits only.
    assert normalise_email("  John.Doe@GMail.com ", "google_ads") == "johndoe@gmail.com"
    assert normalise_email("  John.Doe@GMail.com ", "meta_ads") == "john.doe@gmail.com"
    assert normalise_email("Jan.Jansen@Example.NL", "google_ads") == "jan.jansen@example.nl"
    assert normalise_phone("+31 6 12345678", "google_ads") == "+31612345678"
    assert normalise_phone("+31 6 12345678", "meta_ads") == "31612345678"
    row = {"email": "  John.Doe@GMail.com ", "phone": "+31612345678"}
    assert hashed_identifiers(row, "google_ads") == (
        "06a240d11cc201676da976f7b49341181fd180da37cbe40a77432c0a366c80c3",
        "fab7be8a931d1088a82f6acf9e468aaf6a3accc07d5112ee5d6fca93281e1583",
    )
    assert hashed_identifiers(row, "meta_ads") == (
        "375320dd9ae7ed408002f3768e16cb5f28c861062fd50dff9a3bff62e9dce4ef",
        "e03d152bbe638d9fe7a04f9b88a67674bf15b73c0981755c16eb78d177721e03",
    )
    assert hashed_identifiers({"email": " ", "phone": None}, "meta_ads") == ("", "")  # never hash an empty value


def test_ad_audience_files_hold_hashes_of_consenting_members_only(world):
    home, people = world
    no_ads = [person(i, consent_ads_personalisation="0") for i in range(1, 11)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv",
         no_ads + [person(i, consent_ads_personalisation="1") for i in range(11, 121)])  # fmt: skip
    campaign = replace(ABANDONERS, channels=("email", "google_ads", "meta_ads"), holdout_share=0.2)
    rows = write_audience(campaign.name, people)
    activation.run_campaign(campaign, [campaign], channels(), run_id="r1")

    members = [r for r in rows[10:] if not activation.in_holdout(campaign.name, r["customer_key"], 0.2)]
    for platform, header in (("google_ads", "Email,Phone"), ("meta_ads", "email,phone")):
        text = AdAudienceResource().path(platform, campaign.name, AS_OF.isoformat()).read_text()
        lines = text.splitlines()
        assert lines[0] == header
        assert sorted(lines[1:]) == sorted(",".join(hashed_identifiers(r, platform)) for r in members)
        assert "@" not in text and "+31" not in text  # nothing raw


def test_the_dagster_asset_records_the_plan_and_needs_run_config_to_pass_the_guard(world, dbt_manifest):
    import dagster as dg

    from hourglass.assets.activation import build_activation_asset

    home, people = world
    asset = build_activation_asset(ABANDONERS, [ABANDONERS])
    instance = dg.DagsterInstance.ephemeral()
    key = asset.key.to_user_string()
    with LoopbackSmtp() as smtp:
        resources = {
            "outbox": OutboxResource(),
            "smtp": SmtpResource(host="127.0.0.1", port=smtp.port, tls="off"),
            "sms": SmsResource(),
            "webhook": WebhookResource(),
            "ad_audiences": AdAudienceResource(),
        }

        def materialize(approve: bool | None = None):
            config = {"ops": {key.replace("/", "__"): {"config": {"approve_audience_change": approve}}}}
            return dg.materialize([asset], resources=resources, instance=instance, raise_on_error=False,
                                  run_config=config if approve is not None else None)  # fmt: skip

        write_audience(ABANDONERS.name, people[:30])
        first = materialize()
        assert first.success
        metadata = first.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
        assert metadata["result_sent"].value == len(smtp.messages) > 0
        # Counts only: no address, name or phone in what Dagster stores.
        stored = json.dumps({k: str(v.value) for k, v in metadata.items()})
        assert "@" not in stored and "+316" not in stored

        write_audience(ABANDONERS.name, people)  # 30 -> 120
        blocked = materialize()
        assert not blocked.success and len(smtp.messages) == metadata["result_sent"].value
        failure = blocked.get_step_failure_events()[0].step_failure_data
        assert "beyond guard_max_change" in failure.user_failure_data.description
        assert "approve_audience_change: true" in failure.user_failure_data.description
        records = instance.fetch_observations(asset.key, limit=10).records
        observed = [r.asset_observation.metadata for r in records if r.run_id == blocked.run_id]
        assert observed and observed[0]["audience_size"].value == 120  # the plan was recorded before the stop

        approved = materialize(approve=True)
        assert approved.success and len(smtp.messages) > metadata["result_sent"].value


def test_an_empty_audience_export_sends_nothing(world):
    home, _ = world
    # What dbt-duckdb writes for an audience with no rows: one row of nulls, so the file keeps its schema.
    settings.ensure_audience_dir()
    empty = pa.table({"customer_key": pa.nulls(1, pa.string()), "email": pa.nulls(1, pa.string())})
    pq.write_table(empty, settings.audience_export(ABANDONERS.name))
    with LoopbackSmtp() as smtp:
        result = activation.run_campaign(ABANDONERS, [ABANDONERS], channels(smtp=smtp), run_id="r1")
        assert smtp.count == 0
    assert result["audience_size"] == 0 and result["receipts"] == 0


def test_an_smtp_server_dropping_connections_mid_batch_loses_nothing(world, monkeypatch):
    """Every 25th message the server drops the connection; the sender reconnects, the rest is retried."""
    home, people = world
    campaign = replace(ABANDONERS, holdout_share=0.0)
    write_audience(campaign.name, people)
    monkeypatch.setenv("HOURGLASS_RETRY_BACKOFF_SECONDS", "0")
    refused = person(9)["email"]
    with LoopbackSmtp(refuse={refused}, drop_every=25) as smtp:
        first = activation.run_campaign(campaign, [campaign], channels(smtp=smtp), run_id="r1")
        assert first["result_email_rejected"] == 1  # the bad mailbox is rejected, not retried
        for attempt in range(5):  # a message that failed twice in a row waits for a later run, as nightly would
            if not activation.run_campaign(campaign, [campaign], channels(smtp=smtp), run_id=f"r{attempt}").get(
                "result_email_failed"
            ):
                break
        keys = [m["X-Hourglass-Key"] for m in smtp.messages]
        drops = smtp.handler.seen - len(keys)
    assert drops >= 2  # the server really dropped connections while messages were in flight
    fault_log.fault("SMTP connections dropped mid-batch", drops)
    fault_log.count(fault_log.DUPLICATES, len(keys) - len(set(keys)))
    fault_log.count(fault_log.LOST, len(people) - 1 - len(set(keys)))
    assert len(set(keys)) == len(keys) == len(people) - 1  # everyone once, except the refused mailbox
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(campaign.name) == {"sent": len(people) - 1, "rejected": 1}


def test_an_smtp_server_that_stalls_costs_at_most_the_reported_duplicates(world):
    """A client that times out cannot know whether the stalled message was accepted: it resends, and says so."""
    home, people = world
    campaign = replace(ABANDONERS, holdout_share=0.0)
    write_audience(campaign.name, people)
    # The timeout leaves room for a loaded machine: a reconnect slower than it fails the message for this run
    with LoopbackSmtp(stall_every=30, stall_seconds=2.5) as smtp:
        slow = channels(smtp=smtp)
        slow.smtp = SmtpResource(host="127.0.0.1", port=smtp.port, concurrency=3, timeout=1.0, tls="off")
        result = activation.run_campaign(campaign, [campaign], slow, run_id="r1")
        time.sleep(3)  # let the stalled messages land
        keys = [m["X-Hourglass-Key"] for m in smtp.messages]
    duplicates = len(keys) - len(set(keys))
    assert len(set(keys)) == len(people), result  # nothing lost
    assert result["result_possibly_duplicated"] >= 1  # the timeouts happened and were reported ...
    assert duplicates <= result["result_possibly_duplicated"]  # ... and bound the duplicates
    fault_log.fault("SMTP messages stalled past the client timeout", result["result_possibly_duplicated"])
    fault_log.count("possible SMTP duplicates reported", result["result_possibly_duplicated"])
    fault_log.count("SMTP duplicates arrived (bounded by the reported)", duplicates)


# Consent histories for the property below: CRM versions, lead forms and ESP events of a few people, at moments
# before the send at 10:00 that are all distinct, except where a history asks for a withdrawal tied to an opt-in.
DECISION = st.sampled_from(["1", "0", "", "ja", "nee"])
HISTORY = st.fixed_dictionaries(
    {
        "crm": st.lists(st.tuples(DECISION, st.booleans()), min_size=1, max_size=3),  # (consent, with its own _at)
        "leads": st.lists(st.sampled_from(["1", "0"]), max_size=2),
        "esp": st.lists(st.sampled_from(["unsubscribe", "spam_complaint", "click", "open"]), max_size=2),
        "esp_without_email": st.booleans(),  # a withdrawal names only the subscriber id
        "tie": st.booleans(),  # an unsubscribe at the very moment of the last lead form
        "spelling": st.sampled_from(["{}", "  {} ", "{}".upper()]),
    }
)
GRANTS = {"1": True, "ja": True, "0": False, "nee": False}
WITHDRAWALS = ("unsubscribe", "spam_complaint")


def _consent_world(histories: list[dict], rnd: random.Random) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Landing rows for the histories and, worked out here by the documented rule (the latest decision wins, a
    refusal wins a tie, an unstamped yes never beats a no, no decision means no consent), whether each person may
    get marketing e-mail now."""
    crm, leads, esp, consent = [], [], [], {}
    minutes = rnd.sample(range(10, 590), 12 * len(histories))

    def moment() -> str:
        minute = minutes.pop()
        return f"{AS_OF}T{minute // 60:02d}:{minute % 60:02d}:00"

    for i, history in enumerate(histories, start=1):
        address, subscriber = f"persoon{i}@example.nl", f"S{i}"
        decisions = []  # (at, granted)
        versions = []
        for flag, own_at in history["crm"]:
            versions.append(person(i, updated_at=moment(), consent_email_marketing=flag, phone="",
                                   consent_email_marketing_at=moment() if own_at else ""))  # fmt: skip
        crm += versions
        latest = max(versions, key=lambda r: r["updated_at"])  # only the newest CRM version speaks
        if latest["consent_email_marketing"]:
            granted = GRANTS[latest["consent_email_marketing"]]
            # a yes without its own time is older than any refusal ("" sorts first); a no takes the record's time
            at = latest["consent_email_marketing_at"] or ("" if granted else latest["updated_at"])
            decisions.append((at, granted))
        for n, flag in enumerate(history["leads"]):
            at = moment()
            leads.append({"lead_id": f"L{i}-{n}", "email": history["spelling"].format(address), "created_at": at,
                          "consent_email_marketing": flag, "consent_email_marketing_at": at})  # fmt: skip
            decisions.append((at, GRANTS[flag]))
        events = [(kind, moment()) for kind in history["esp"]]
        if history["tie"] and leads and leads[-1]["lead_id"].startswith(f"L{i}-"):
            events.append(("unsubscribe", leads[-1]["created_at"]))
        for n, (kind, at) in enumerate(events):
            anonymous = history["esp_without_email"] and kind in WITHDRAWALS
            esp.append({"event_id": f"E{i}-{n}", "subscriber_id": subscriber, "event_type": kind, "event_at": at,
                        "email": "" if anonymous else history["spelling"].format(address)})  # fmt: skip
        # A withdrawal without an address counts if another event of the subscriber names it.
        known = any(e["email"] for e in esp if e["subscriber_id"] == subscriber)
        for e in esp:
            if e["subscriber_id"] == subscriber and e["event_type"] in WITHDRAWALS and (e["email"] or known):
                decisions.append((e["event_at"], False))
        last = max((at for at, _ in decisions), default=None)
        consent[f"k-C{i:04d}"] = last is not None and all(granted for at, granted in decisions if at == last)
    return crm, leads, esp, consent


@pytest.mark.slow  # a load and a send per generated history
@hsettings(max_examples=200 if SOAK else 12, deadline=None)
@given(histories=st.lists(HISTORY, min_size=4, max_size=10), seed=st.integers(0, 2**16))
def test_no_marketing_email_without_consent_at_send_time_over_generated_histories(histories, seed):
    """Whatever order CRM versions, lead forms and ESP unsubscribes came in, the send reaches exactly the people
    whose latest decision is a yes, minus the holdout, and never anyone else."""
    rnd = random.Random(seed)
    campaign = replace(ABANDONERS, channels=("email",), holdout_share=0.3, cooldown_days=0)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        home = Path(tmp)
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        mp.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
        crm, leads, esp, consent = _consent_world(histories, rnd)
        for source, landed in (("crm_customers", crm), ("leads", leads), ("esp_events", esp)):
            if landed:
                write_landing(home, source, f"{source}_{AS_OF}.csv", landed)
                (loaded,) = landing.load_source(CONTRACTS[source], force=True)
                assert loaded.rows_quarantined == 0, loaded.reasons  # every decision reached the lake
        people = [person(i, phone="") for i in range(1, len(histories) + 1)]
        rows = write_audience(campaign.name, people)
        result = activation.run_campaign(campaign, [campaign], channels(), run_id="r1")

        outbox = OutboxResource().path("email", campaign.name, AS_OF.isoformat())
        sent = [json.loads(line)["customer_key"] for line in outbox.read_text().splitlines()] if outbox.exists() else []
    held_out = {r["customer_key"] for r in rows if activation.in_holdout(campaign.name, r["customer_key"], 0.3)}
    fault_log.count("consent histories generated (CRM versions, lead forms, ESP withdrawals)", len(histories))
    fault_log.count("messages checked for consent and holdout", len(sent))
    fault_log.count(fault_log.CONSENT, sum(not consent[k] for k in sent))
    fault_log.count(fault_log.HOLDOUT, len(set(sent) & held_out))
    fault_log.count(fault_log.DUPLICATES, len(sent) - len(set(sent)))
    assert all(consent[k] for k in sent)  # nobody without consent at send time
    assert not set(sent) & held_out  # nobody held out
    # and nobody else left out: whoever said yes last and is not held out got exactly one message
    assert sorted(sent) == sorted(k for k, yes in consent.items() if yes and k not in held_out)
    assert result.get("email_suppressed_no_consent", 0) == sum(not yes for yes in consent.values())
