"""Two senders of one campaign at once: every key goes out from one of them, whatever started them.

Real processes (`python -m hourglass.cli activate`, the Dagster asset in this process) against real channel
servers on loopback that answer slowly, so both senders are mid-send together. A frozen sender's claim is
taken over once it expires. The ledger's compare-and-set and the outbox's lock are also checked directly.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import dagster as dg
import fault_log
import pytest
from conftest import AS_OF
from test_activation import (
    land,
    person,
    world,  # noqa: F401 - a fixture, asked for by name below
    write_audience,
)

from hourglass import activation, settings
from hourglass.campaigns import Campaign, audience_nodes
from hourglass.channels.ads import AdAudienceResource
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.outbox import KeyedJsonl, OutboxResource
from hourglass.channels.smtp import SmtpResource
from hourglass.ledger import ClaimOwner, Ledger, Outcome
from hourglass.sample.channel_servers import LoopbackHttp, LoopbackSmtp

ACTIVATE = [sys.executable, "-m", "hourglass.cli", "activate"]
PEOPLE = 150
BATCH = 5


@pytest.fixture
def crowd(request, monkeypatch):
    """test_activation's world with PEOPLE customers, whose consent `overrides` change, and small batches."""
    home, _ = request.getfixturevalue("world")
    monkeypatch.setenv("HOURGLASS_SEND_BATCH", str(BATCH))

    def with_consent(**overrides) -> list[dict]:
        people = [person(i, **overrides) for i in range(1, PEOPLE + 1)]
        land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
        return people

    return with_consent


def campaigns() -> list[Campaign]:
    """The campaigns of the dbt project, as the CLI and the Dagster definitions read them."""
    from hourglass.project import manifest

    return [Campaign.from_manifest_node(node) for node in audience_nodes(manifest())]


def eligible(name: str, rows: list[dict], field: str) -> dict[str, str]:
    """`field` of each audience row outside the campaign's holdout -> its customer key."""
    share = next(c for c in campaigns() if c.name == name).holdout_share
    return {r[field]: r["customer_key"] for r in rows if not activation.in_holdout(name, r["customer_key"], share)}


def results(output: str) -> Counter:
    """The counts `hourglass activate` printed."""
    return Counter({k: int(v) for k, v in (line.split(": ", 1) for line in output.splitlines()) if v.isdigit()})


def two_clis(name: str, env: dict) -> list[Counter]:
    """Two `hourglass activate <name>` started together; each one's printed counts once both finished."""
    procs = [
        subprocess.Popen([*ACTIVATE, name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [results(out) for out, _ in outputs]


def assert_both_sent(counts: list[Counter]) -> None:
    """Both senders sent part of the campaign: they ran at the same time (the premise of these tests)."""
    assert all(c["result_sent"] > 0 for c in counts), f"one sender finished before the other started: {counts}"
    fault_log.fault("senders of one campaign running at once", len(counts))


def test_two_cli_senders_over_slow_smtp_reach_each_recipient_once(crowd, dbt_manifest):
    """Issue 25: two `hourglass activate` of one campaign against a slow server each sent it to everyone."""
    name = "reengage_declining"
    rows = write_audience(name, crowd(), days_since_joining=3, subscription="magazine")
    wanted = eligible(name, rows, "email")
    # A slow server (0.1 s a message) that holds its first reply until both senders have a message in flight.
    with LoopbackSmtp(stall_every=1, stall_seconds=0.1, overlap=2) as smtp:
        env = {**os.environ, "HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_PORT": str(smtp.port),
               "HOURGLASS_SMTP_CONCURRENCY": "1", "HOURGLASS_SMTP_TLS": "off"}  # fmt: skip
        counts = two_clis(name, env)
        got = Counter(m["To"] for m in smtp.messages)
    assert_both_sent(counts)
    fault_log.count(fault_log.DUPLICATES, sum(got.values()) - len(got))
    assert set(got) == set(wanted) and max(got.values()) == 1  # everyone, once
    assert sum(c["result_sent"] for c in counts) == len(wanted)
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(name) == {"sent": len(wanted), "held_out": len(rows) - len(wanted)}


def test_the_dagster_asset_and_a_cli_sender_at_once_reach_each_recipient_once(crowd, dbt_manifest):
    from hourglass.assets.activation import build_activation_asset

    name = "reengage_declining"
    rows = write_audience(name, crowd(), days_since_joining=3, subscription="magazine")
    wanted = eligible(name, rows, "email")
    everyone = campaigns()
    asset = build_activation_asset(next(c for c in everyone if c.name == name), everyone)
    # The server holds its first reply until the CLI and the asset both have a message in flight.
    with LoopbackSmtp(stall_every=1, stall_seconds=0.1, overlap=2) as smtp:
        env = {**os.environ, "HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_PORT": str(smtp.port),
               "HOURGLASS_SMTP_CONCURRENCY": "1", "HOURGLASS_SMTP_TLS": "off"}  # fmt: skip
        cli = subprocess.Popen([*ACTIVATE, name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        resources = {
            "outbox": OutboxResource(),
            "smtp": SmtpResource(host="127.0.0.1", port=smtp.port, concurrency=1, tls="off"),
            "sms": SmsResource(),
            "webhook": WebhookResource(),
            "ad_audiences": AdAudienceResource(),
        }
        run = dg.materialize([asset], resources=resources, instance=dg.DagsterInstance.ephemeral())
        out, err = cli.communicate(timeout=600)
        got = Counter(m["To"] for m in smtp.messages)
    assert cli.returncode == 0, err[-3000:]
    assert run.success
    metadata = run.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    counts = [results(out), Counter({"result_sent": metadata["result_sent"].value})]
    assert_both_sent(counts)
    fault_log.count(fault_log.DUPLICATES, sum(got.values()) - len(got))
    assert set(got) == set(wanted) and max(got.values()) == 1
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(name) == {"sent": len(wanted), "held_out": len(rows) - len(wanted)}


@pytest.mark.parametrize(
    ("name", "channel", "consent"),
    [
        ("churn_risk_valuable", "webhook", {}),  # the webhook, then e-mail to the outbox
        # SMS for want of e-mail consent; soak: SMS and the webhook share one HTTP sender
        pytest.param("workshop_signup_abandoners", "sms", {"consent_email_marketing": "0"}, marks=pytest.mark.soak),
    ],
)
def test_two_cli_senders_over_slow_http_and_the_outbox_send_each_key_once(crowd, dbt_manifest, name, channel, consent):
    """The receiver recognises a repeated Idempotency-Key: a second POST of a key is a second send all the same."""
    rows = write_audience(name, crowd(**consent), subscription="magazine")
    wanted = eligible(name, rows, "customer_key")
    # Webhooks are signed; the first reply waits until both senders have a request in flight.
    with LoopbackHttp(secret="geheim" if channel == "webhook" else "", delay=0.05, overlap=2) as server:
        upper = channel.upper()
        env = {**os.environ, f"HOURGLASS_{upper}_URL": server.url, f"HOURGLASS_{upper}_CONCURRENCY": "1",
               "HOURGLASS_WEBHOOK_SECRET": "geheim"}  # fmt: skip
        counts = two_clis(name, env)
        posts = server.state.requests
        replays = sum(server.state.replays.values())
        applied = [p.get("customer_key") or p["reference"] for p in server.state.applied.values()]
    assert_both_sent(counts)
    fault_log.count("keys sent again to an idempotent receiver by a second sender (must be 0)", replays)
    assert replays == 0 and posts == len(wanted) == len(applied)
    if channel == "sms":
        assert sorted(applied) == sorted(r["key"] for r in _ledger_rows(name))
    else:
        assert sorted(applied) == sorted(wanted.values())
        outbox = OutboxResource().path("email", name, AS_OF.isoformat())
        keys = [json.loads(line)["customer_key"] for line in outbox.read_text().splitlines()]
        fault_log.count(fault_log.DUPLICATES, len(keys) - len(set(keys)))
        assert sorted(keys) == sorted(wanted.values())  # the outbox holds each e-mail once


def _ledger_rows(campaign_name: str) -> list[dict]:
    with Ledger(settings.ledger_path()) as ledger:
        cursor = ledger._con.execute("select key, status from messages where campaign = ?", (campaign_name,))
        return [{"key": key, "status": status} for key, status in cursor]


APPEND = """
import sys
from pathlib import Path
from hourglass.channels.outbox import KeyedJsonl
keys = sys.argv[2:]
file = KeyedJsonl(Path(sys.argv[1]))
file.append([])  # opened and read, as a sender's outbox file is before its first batch
print("ready", flush=True)
sys.stdin.readline()
for start in range(0, len(keys), 7):
    file.append([{"key": k, "by": sys.argv[1]} for k in keys[start:start + 7]])
"""


def test_two_processes_appending_to_one_outbox_file_write_each_key_once(tmp_path):
    path = tmp_path / "outbox.jsonl"
    keys = [f"key-{i}" for i in range(600)]
    procs = []
    for seed in (1, 2):
        order = random.Random(seed).sample(keys, len(keys))
        proc = subprocess.Popen([sys.executable, "-c", APPEND, str(path), *order], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout.readline().strip() == "ready"
        procs.append(proc)
    for proc in procs:  # both have the file open: go
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    written = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    fault_log.count(fault_log.DUPLICATES, len(written) - len(set(written)))
    assert sorted(written) == sorted(keys)  # every key, once
    assert sorted(r["key"] for r in KeyedJsonl(path).records()) == sorted(keys)


# Soak: the takeover of an expired claim is proven on the ledger below, and a resumed in-flight batch reported as
# possibly duplicated by test_activation's send killed mid-batch; this is the same with a live, frozen process.
@pytest.mark.soak
def test_a_frozen_senders_claim_is_taken_over_once_it_expires_and_everyone_is_reached(crowd, dbt_manifest):
    """A sender stops mid-batch and never comes back (SIGSTOP, later SIGKILL): its process still exists, so only
    its claim's expiry frees the batch. Runs after that take the batch over and report it as possibly duplicated
    on plain SMTP; nothing beyond that batch arrives twice."""
    name = "reengage_declining"
    rows = write_audience(name, crowd(), days_since_joining=3, subscription="magazine")
    wanted = eligible(name, rows, "email")
    batch = 10
    # Four connections, 0.05 s a message: a batch of ten is out for 0.15 s, and the stop lands early in one.
    with LoopbackSmtp(stall_every=1, stall_seconds=0.05) as smtp:
        env = {**os.environ, "HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_PORT": str(smtp.port),
               "HOURGLASS_SEND_BATCH": str(batch), "HOURGLASS_CLAIM_SECONDS": "3",
               "HOURGLASS_SMTP_TLS": "off"}  # fmt: skip
        frozen = subprocess.Popen([*ACTIVATE, name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while smtp.count < 3 * batch + 2 and frozen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            frozen.send_signal(signal.SIGSTOP)
            assert frozen.poll() is None, frozen.stderr.read().decode()[-2000:]
            fault_log.fault("senders frozen mid-batch (SIGSTOP), plain SMTP", 1)
            with Ledger(settings.ledger_path()) as ledger:
                (in_flight,) = ledger._con.execute("select count(*) from messages where status = 'sending'").fetchone()
            assert 0 < in_flight <= batch  # only the batch out at the channel is claimed

            runs = []
            while len(runs) < 5:
                done = subprocess.run([*ACTIVATE, name], env=env, capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, done.stderr[-3000:]
                runs.append(results(done.stdout))
                with Ledger(settings.ledger_path()) as ledger:
                    (until,) = ledger._con.execute(
                        "select max(claim_until) from messages where status = 'sending'"
                    ).fetchone()
                if until is None:
                    break
                time.sleep(max(0.0, until - time.time()) + 0.1)  # the frozen sender's claim runs out
            assert frozen.poll() is None  # it was alive all along: the claim was taken over by its expiry
        finally:
            frozen.kill()
            frozen.wait()
            frozen.stderr.close()
        keys = Counter(m["X-Hourglass-Key"] for m in smtp.messages)
        reached = {m["To"] for m in smtp.messages}
    fault_log.count(fault_log.RESUMED, len(runs))
    resumed = sum(r["result_resumed_in_flight"] for r in runs)
    reported = sum(r["result_possibly_duplicated"] for r in runs)
    duplicates = sum(keys.values()) - len(keys)
    fault_log.count(fault_log.LOST, len(set(wanted) - reached))
    fault_log.count("possible SMTP duplicates reported", reported)
    fault_log.count("SMTP duplicates arrived (bounded by the reported)", duplicates)
    assert reached == set(wanted) and len(keys) == len(wanted)
    assert resumed == in_flight == reported  # the frozen batch was taken over, and reported
    assert duplicates <= reported <= batch
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(name) == {"sent": len(wanted), "held_out": len(rows) - len(wanted)}


# The ledger's claim rules, one sender against another, without processes or servers.


def _planned(ledger: Ledger, keys: list[str], window: str = "2026-11-19") -> None:
    ledger.plan((k, "c", f"cust-{k}", "email", window) for k in keys)


def test_a_claim_is_taken_only_when_planned_due_expired_or_orphaned(tmp_path):
    keys = ["a", "b", "c", "d"]
    first, second = ClaimOwner("run-1"), ClaimOwner("run-2")
    with Ledger(tmp_path / "sends.sqlite") as ledger:
        _planned(ledger, keys)
        assert ledger.claim(keys[:2], first, 60).taken == ["a", "b"]
        other = ledger.claim(keys, second, 60)
        assert other.taken == ["c", "d"] and other.left == {"a": "claimed_elsewhere", "b": "claimed_elsewhere"}
        # Only the owner records: the other sender's outcome for a key it does not hold is dropped.
        assert ledger.record([Outcome("a", "sent")], second) == ["a"]
        assert ledger.states(["a"])["a"][0] == "sending"
        assert ledger.record([Outcome("a", "sent"), Outcome("b", "failed", retry_after=3600)], first) == []
        assert ledger.record([Outcome("c", "failed", retry_after=0), Outcome("d", "rejected")], second) == []
        again = ledger.claim(keys, ClaimOwner("run-3"), 60)
        assert again.taken == ["c"]  # failed and due
        assert again.left == {"a": "already_sent", "b": "waiting_retry", "d": "already_rejected"}
        assert again.resumed == set()

        # In flight and counted as possibly delivered by the frequency cap and the cooldown, as is a message a
        # holdout stood in for; a held-out key is never claimed in its window.
        ledger.hold_out([("e", "c", "cust-e", "email", "2026-11-19")])
        assert ledger.claim(["e"], ClaimOwner("run-4"), 60).left == {"e": "already_held_out"}
        assert ledger.touched_per_customer("2026-11-19", "2026-11-20", ["email"]) == {
            "cust-a": 1,
            "cust-c": 1,
            "cust-e": 1,
        }
        assert ledger.last_touched("c", "2026-11-20") == dict.fromkeys(["cust-a", "cust-c", "cust-e"], "2026-11-19")


def test_an_expired_claim_is_taken_over_and_renewal_keeps_a_live_one(tmp_path):
    slow, other = ClaimOwner("slow"), ClaimOwner("other")
    with Ledger(tmp_path / "sends.sqlite") as ledger:
        _planned(ledger, ["a", "b"])
        ledger.claim(["a", "b"], slow, -1)  # already expired: as if its sender had stopped renewing long ago
        assert ledger.renew(["b"], slow, 60) == 1  # ... but it renews b
        taken = ledger.claim(["a", "b"], other, 60)
        assert taken.taken == ["a"] and taken.resumed == {"a"} and taken.left == {"b": "claimed_elsewhere"}
        assert ledger.renew(["a", "b"], slow, 60) == 1  # a is no longer the slow sender's
        assert ledger.record([Outcome("a", "sent"), Outcome("b", "sent")], slow) == ["a"]
        assert ledger.record([Outcome("a", "sent")], other) == []
        assert ledger.counts() == {"sent": 2}


def test_a_claim_whose_process_on_this_machine_is_gone_is_taken_over_at_once(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead_here = ClaimOwner("killed", pid=gone.pid)
    dead_elsewhere = ClaimOwner("killed", host="another-machine", pid=gone.pid)
    me = ClaimOwner("rerun")
    with Ledger(tmp_path / "sends.sqlite") as ledger:
        _planned(ledger, ["a", "b"])
        ledger.claim(["a"], dead_here, 3600)
        ledger.claim(["b"], dead_elsewhere, 3600)  # its process id says nothing here: wait for the expiry
        taken = ledger.claim(["a", "b"], me, 60)
        assert taken.taken == ["a"] and taken.resumed == {"a"} and taken.left == {"b": "claimed_elsewhere"}
        assert ledger.claim(["a"], ClaimOwner("third"), 60).left == {"a": "claimed_elsewhere"}  # mine: alive


def test_a_ledger_from_before_claims_gains_them_and_its_in_flight_keys_are_resumed(tmp_path):
    import sqlite3

    path = tmp_path / "sends.sqlite"
    with sqlite3.connect(path) as con:
        con.execute(
            "create table messages (key text primary key, campaign text not null, customer_key text not null,"
            " channel text not null, send_window text not null, status text not null, reason text,"
            " attempts integer not null default 0, next_attempt_at real not null default 0, updated_at real not null)"
        )
        con.execute("insert into messages values ('a', 'c', 'x', 'email', '2026-11-20', 'sending', null, 1, 0, 0)")
    with Ledger(path) as ledger:
        taken = ledger.claim(["a"], ClaimOwner("after-upgrade"), 60)
    assert taken.taken == ["a"] and taken.resumed == {"a"}
