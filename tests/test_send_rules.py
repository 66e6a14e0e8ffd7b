"""The send rules docs/campaigns.md and docs/configuration.md promise, each run against the real channel servers.

Quiet hours (across midnight, at their edges, in the send time zone), unusable addresses, the frequency cap's
window over several days, the guard's minimum change, the retry backoff and its cap, the SMS and webhook rate
limits, and the guard's approval from the command line. The world (CRM consent in the lake, an audience
export) is the one tests/test_activation.py builds.
"""

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest
import test_activation as base
from conftest import AS_OF

from hourglass import activation, lake, settings
from hourglass.campaigns import Campaign
from hourglass.ledger import ClaimOwner, Ledger, Outcome
from hourglass.resources.channels import channel_resources, plain_secret
from hourglass.sample.channel_servers import LoopbackHttp, LoopbackSmtp

world = base.world
person, write_audience, channels, receipts = base.person, base.write_audience, base.channels, base.receipts
CAMPAIGN = replace(base.ABANDONERS, holdout_share=0.0, cooldown_days=0)
NIGHT = replace(CAMPAIGN, channels=("email", "webhook"), quiet_hours="21:00-08:00")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def channel_receipts(campaign: str, channel: str) -> set[tuple[str, str | None]]:
    """The (status, reason) pairs of the campaign's latest run on one channel."""
    return set(
        duckdb.sql(
            f"select status, reason from read_parquet('{lake.raw_glob('activation_receipts')}') where campaign = ?"
            " and channel = ? qualify run_id = last(run_id order by recorded_at) over ()",
            params=[campaign, channel],
        ).fetchall()
    )


def plan(campaign: Campaign, now: datetime, tmp_path, people: int = 3) -> list[activation.Decision]:
    rows = [{"customer_key": f"k{i}", "email": f"p{i}@example.nl", "phone": None} for i in range(people)]
    consents = {r["customer_key"]: {"email_marketing", "ads_personalisation"} for r in rows}
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        plans = activation.plan_window([campaign], {campaign.name: rows}, consents, ledger, AS_OF, now,
                                       activation.Rules(frequency_cap=3, frequency_days=7))  # fmt: skip
    return plans[campaign.name]


# The start is quiet, the end is not: 21:00 is the first quiet minute, 08:00 the first one to send again.
MOMENTS = {
    "20:59:59": False,
    "21:00:00": True,
    "23:59:59": True,
    "00:00:00": True,
    "03:30:00": True,
    "07:59:59": True,
    "08:00:00": False,
    "12:00:00": False,
}


@pytest.mark.parametrize("clock, quiet", MOMENTS.items())
def test_quiet_hours_across_midnight_hold_back_email_and_sms_only(clock, quiet, tmp_path):
    now = datetime.fromisoformat(f"{AS_OF}T{clock}").replace(tzinfo=AMSTERDAM)
    decisions = plan(replace(NIGHT, channels=(*NIGHT.channels, "google_ads")), now, tmp_path)
    email = {(d.status, d.reason) for d in decisions if d.channel == "email"}
    assert email == ({("suppressed", "quiet_hours")} if quiet else {("send", None)})
    for audience in ("webhook", "google_ads"):  # no message to a person: never held back
        assert [d.status for d in decisions if d.channel == audience] == ["send"] * 3


@pytest.mark.parametrize("clock, quiet", [("12:59:59", False), ("13:00:00", True), ("13:59:59", True),
                                          ("14:00:00", False), ("00:00:00", False)])  # fmt: skip
def test_quiet_hours_within_a_day(clock, quiet, tmp_path):
    lunch = replace(CAMPAIGN, quiet_hours="13:00-14:00")
    now = datetime.fromisoformat(f"{AS_OF}T{clock}").replace(tzinfo=AMSTERDAM)
    assert {d.reason for d in plan(lunch, now, tmp_path)} == ({"quiet_hours"} if quiet else {None})


@pytest.mark.parametrize(
    "moment, quiet",
    [
        ("2026-11-20T19:59:59+00:00", False),  # 20:59:59 in Amsterdam (winter, UTC+1)
        ("2026-11-20T20:00:00Z", True),  # 21:00
        ("2026-11-20T06:59:59Z", True),  # 07:59:59
        ("2026-11-20T07:00:00Z", False),  # 08:00
        ("2026-07-01T19:00:00Z", True),  # 21:00 in summer (UTC+2)
        ("2026-07-01T05:59:59Z", True),  # 07:59:59
        ("2026-07-01T06:00:00Z", False),  # 08:00
        ("2026-11-20T07:30:00", True),  # no offset: already Amsterdam time
        ("2026-11-20T08:30:00", False),
    ],
)
def test_quiet_hours_are_read_in_the_send_time_zone(moment, quiet, tmp_path, monkeypatch):
    monkeypatch.setenv("HOURGLASS_NOW", moment)
    monkeypatch.delenv("HOURGLASS_TIMEZONE", raising=False)
    assert {d.reason for d in plan(NIGHT, settings.now(), tmp_path) if d.channel == "email"} == (
        {"quiet_hours"} if quiet else {None}
    )


def test_quiet_rows_go_out_on_a_later_run_in_the_same_window(world, monkeypatch):
    home, people = world
    write_audience(NIGHT.name, people[:20])
    with LoopbackSmtp() as smtp, LoopbackHttp(secret="geheim") as crm:
        monkeypatch.setenv("HOURGLASS_NOW", f"{AS_OF}T07:30:00")
        early = activation.run_campaign(NIGHT, [NIGHT], channels(smtp=smtp, webhook=crm), run_id="early")
        assert smtp.count == 0 and len(crm.state.applied) == 20  # the CRM write-back is no message: it went
        assert early["email_suppressed_quiet_hours"] == 20
        assert channel_receipts(NIGHT.name, "email") == {("suppressed", "quiet_hours")}
        assert channel_receipts(NIGHT.name, "webhook") == {("sent", None)}

        monkeypatch.setenv("HOURGLASS_NOW", f"{AS_OF}T08:00:00")
        morning = activation.run_campaign(NIGHT, [NIGHT], channels(smtp=smtp, webhook=crm), run_id="morning")
        assert smtp.count == 20 and morning["result_already_sent"] == 20  # the webhook calls are not repeated
        assert {m["To"] for m in smtp.messages} == {p["email"] for p in people[:20]}
    assert channel_receipts(NIGHT.name, "email") == {("sent", None)}


def test_rows_without_a_usable_address_are_suppressed_or_go_to_the_next_channel(world):
    home, people = world
    no_email_consent = person(4, consent_email_marketing="0")
    base.land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", [*people[:3], no_email_consent, *people[4:]])
    campaign = replace(CAMPAIGN, channels=("email", "sms"), holdout_share=0.5)
    audience = [
        person(1, email="niet-een-adres"),  # no e-mail address, a good phone: SMS
        person(2, email="persoon2@example", phone="0612345678"),  # no top-level domain, not E.164
        person(3, email="", phone="+31 6 1234 5678"),  # spaces in the number
        person(4, phone="06-12345678"),  # consent for SMS only, and no usable number
        *people[4:20],
    ]
    write_audience(campaign.name, audience)
    with LoopbackSmtp() as smtp, LoopbackHttp() as gateway:
        result = activation.run_campaign(campaign, [campaign], channels(smtp=smtp, sms=gateway), run_id="r1")
        mailed = {m["To"] for m in smtp.messages}
        texted = {p["to"] for p in gateway.state.applied.values()}
    seen = receipts(campaign.name)
    unusable = {"k-C0002", "k-C0003", "k-C0004"}
    assert {k: seen[k] for k in unusable} == dict.fromkeys(unusable, ("suppressed", "invalid_address"))
    assert result["email_suppressed_invalid_address"] == 2 and result["sms_suppressed_invalid_address"] == 1
    # The holdout is drawn among people the campaign can reach: an unusable address is never counted as held out.
    reachable = [p for p in audience if f"k-{p['customer_id']}" not in unusable]
    held = {p["customer_id"] for p in reachable if activation.in_holdout(campaign.name, f"k-{p['customer_id']}", 0.5)}
    assert {k for k, (status, _) in seen.items() if status == "held_out"} == {f"k-{c}" for c in held}
    assert texted == ({person(1)["phone"]} if "C0001" not in held else set())
    assert mailed == {p["email"] for p in people[4:20] if p["customer_id"] not in held}
    assert not mailed & {"niet-een-adres", "persoon2@example", ""}


def test_the_frequency_window_counts_the_last_days_only(world, monkeypatch):
    """Cap 2 in 3 days: a message sent on day d counts on days d, d+1 and d+2, and no longer on d+3."""
    home, people = world
    monkeypatch.setenv("HOURGLASS_FREQUENCY_CAP", "2")
    monkeypatch.setenv("HOURGLASS_FREQUENCY_DAYS", "3")
    write_audience(CAMPAIGN.name, people[:10])
    sent = []
    with LoopbackSmtp() as smtp:
        for day in range(6):
            monkeypatch.setenv("HOURGLASS_AS_OF_DATE", (AS_OF + timedelta(days=day)).isoformat())
            before = smtp.count
            result = activation.run_campaign(CAMPAIGN, [CAMPAIGN], channels(smtp=smtp), run_id=f"day{day}")
            sent.append(smtp.count - before)
            assert result.get("email_suppressed_frequency_cap", 0) == (10 if sent[-1] == 0 else 0)
    assert sent == [10, 10, 0, 10, 10, 0]


def test_guard_min_rows_lets_small_changes_through_whatever_their_share(world):
    home, people = world
    with LoopbackSmtp() as smtp:

        def run(size: int, run_id: str) -> None:
            write_audience(CAMPAIGN.name, people[:size])
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], channels(smtp=smtp), run_id=run_id)

        run(10, "first")
        run(29, "plus-19")  # +190%, but 19 people: below guard_min_rows (20)
        assert smtp.count == 29
        with pytest.raises(activation.GuardError, match=r"49 people against 29 .*\+20, \+69%"):
            run(49, "plus-20")
        with pytest.raises(activation.GuardError, match=r"9 people against 29 .*-20, -69%"):
            run(9, "minus-20")
        assert smtp.count == 29
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.last_run(CAMPAIGN.name) == 29  # a refused run does not become the new baseline

    node = {"name": CAMPAIGN.name, "original_file_path": f"models/audiences/{CAMPAIGN.name}.sql",
            "config": {"meta": {"campaign": {"guard_min_rows": 5}}}}  # fmt: skip
    strict = Campaign.from_manifest_node(node)
    assert strict.guard_min_rows == 5 and strict.guard_max_change == 0.5
    assert activation.check_guard(strict, 15, 10, approved=False) is None  # +5 is +50%: not beyond 50%
    assert "beyond guard_max_change" in activation.check_guard(strict, 16, 10, approved=False)  # +6, +60%
    assert activation.check_guard(strict, 16, 10, approved=True) is None


def test_retry_backoff_doubles_per_attempt_up_to_64_times(world, monkeypatch):
    home, people = world
    campaign = replace(CAMPAIGN, channels=("sms",))
    write_audience(campaign.name, people[:3])
    monkeypatch.setenv("HOURGLASS_RETRY_BACKOFF_SECONDS", "10")
    waits = []
    with LoopbackHttp() as gateway:
        gateway.fail(503, times=1000)  # no Retry-After: the ledger's backoff decides
        for attempt in range(1, 10):
            result = activation.run_campaign(campaign, [campaign], channels(sms=gateway), run_id=f"r{attempt}")
            assert result["result_sms_failed"] == 3
            with Ledger(settings.ledger_path()) as ledger:
                rows = ledger._con.execute("select attempts, next_attempt_at - updated_at from messages").fetchall()
                assert {n for n, _ in rows} == {attempt}
                waits.append({round(wait, 3) for _, wait in rows})
                if attempt == 1:  # before its time a failed message is not tried again
                    again = activation.run_campaign(campaign, [campaign], channels(sms=gateway), run_id="early")
                    assert again["result_waiting_retry"] == 3 and gateway.state.requests == 3
                ledger._con.execute("update messages set next_attempt_at = 0")  # as if the wait had passed
        assert gateway.state.requests == 27
    assert waits == [{10.0 * 2 ** min(n, 6)} for n in range(9)]  # 10, 20, 40, ... 640, then 640 again


def busiest_second(arrivals: list[float]) -> int:
    """The most requests the server saw in any one second, by its own clock."""
    times = sorted(arrivals)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


def test_sms_and_webhook_keep_to_their_rate_limits(world, monkeypatch):
    """20 requests a second, 4 connections: the servers see at most 20 in any second, plus the few a stalled
    machine may bunch (each connection holds at most one request back), never the 40 at once."""
    home, people = world
    campaign = replace(CAMPAIGN, channels=("sms", "webhook"))
    write_audience(campaign.name, people[:40])
    with LoopbackHttp() as gateway, LoopbackHttp(secret="geheim") as crm:
        for name, value in {"HOURGLASS_SMS_URL": gateway.url, "HOURGLASS_SMS_RATE_PER_SECOND": "20",
                            "HOURGLASS_WEBHOOK_URL": crm.url, "HOURGLASS_WEBHOOK_SECRET": "geheim",
                            "HOURGLASS_WEBHOOK_RATE_PER_SECOND": "20"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        configured = activation.Channels(**channel_resources(secret=plain_secret))
        result = activation.run_campaign(campaign, [campaign], configured, run_id="r1")
        assert result["result_sent"] == 80
        concurrency = configured.sms.concurrency
        for server in (gateway, crm):
            assert len(server.state.arrivals) == 40
            assert busiest_second(server.state.arrivals) <= 20 + 2 * concurrency


def test_activate_from_the_command_line_needs_approve_past_the_guard(world, dbt_manifest):
    home, people = world
    name = "welcome_new_members"  # email, guard_max_change 0.5, guard_min_rows 20
    with LoopbackSmtp() as smtp:
        env = {**os.environ, "HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_PORT": str(smtp.port),
               "HOURGLASS_SMTP_TLS": "off"}  # fmt: skip

        def activate(*flags: str) -> subprocess.CompletedProcess:
            command = [sys.executable, "-m", "hourglass.cli", "activate", name, *flags]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

        write_audience(name, people[:30], days_since_joining=3)
        first = activate()
        assert first.returncode == 0, first.stderr[-3000:]
        sent = smtp.count
        assert 0 < sent <= 30

        write_audience(name, people, days_since_joining=3)  # 30 -> 120
        refused = activate()
        assert refused.returncode != 0 and smtp.count == sent
        assert "120 people against 30" in refused.stderr and "nothing was sent" in refused.stderr
        assert f"hourglass activate {name} --approve" in refused.stderr

        approved = activate("--approve")
        assert approved.returncode == 0, approved.stderr[-3000:]
        assert smtp.count > sent and "result_sent: " in approved.stdout


def test_a_held_out_person_is_touched_like_a_sent_one(tmp_path):
    """A person held out in a window stands in for a message: the frequency cap counts them and the cooldown holds
    them as it does a sent person, so both groups come back at the same pace; and a person the cap stops is in
    neither group of that window (the holdout is drawn among people the campaign would message now)."""
    campaign = replace(CAMPAIGN, holdout_share=0.5, cooldown_days=14)
    later = replace(CAMPAIGN, name="cross_sell_workshop_to_theatre", priority=50)
    urgent = replace(CAMPAIGN, name="reengage_declining", priority=1)
    rows = [{"customer_key": f"k{i}", "email": f"p{i}@example.nl", "phone": None} for i in range(40)]
    consents = {r["customer_key"]: {"email_marketing"} for r in rows}
    rules = activation.Rules(frequency_cap=1, frequency_days=7)
    owner = ClaimOwner("test")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:

        def window(day: int, *campaigns: Campaign) -> dict[str, set[tuple[str, str | None]]]:
            when = AS_OF + timedelta(days=day)
            audiences = {c.name: rows for c in campaigns}
            noon = datetime.combine(when, datetime.min.time()).replace(hour=12)
            plans = activation.plan_window(campaigns, audiences, consents, ledger, when, noon, rules)
            for c in campaigns:  # planned, then delivered
                activation.record_plan(ledger, c.name, plans[c.name], when.isoformat())
                claimed = ledger.claim([d.key for d in plans[c.name] if d.status == "send"], owner, 60)
                ledger.record([Outcome(key, "sent") for key in claimed.taken], owner)
            return {name: {(d.status, d.reason) for d in plans[name] if d.channel == "email"} for name in plans}

        held = {r["customer_key"] for r in rows if activation.in_holdout(campaign.name, r["customer_key"], 0.5)}
        assert 0 < len(held) < len(rows)
        first = window(0, campaign, later)
        assert first[campaign.name] == {("send", None), ("held_out", "holdout")}
        assert first[later.name] == {("suppressed", "frequency_cap")}  # the held-out people used up the cap too
        assert window(7, campaign)[campaign.name] == {("suppressed", "cooldown")}  # held out or sent, all cool down
        assert window(14, urgent, campaign)[campaign.name] == {("suppressed", "frequency_cap")}  # nobody held out
