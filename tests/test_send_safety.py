"""Webhook signatures a receiver can trust, and endpoint URLs and secrets kept out of every error we store.

The receiver is the real loopback HTTP server; requests go over real sockets.
"""

import hashlib
import hmac
import socket
import time
import traceback
from dataclasses import replace

import dagster as dg
import duckdb
import pytest
import requests
import test_activation as base

from hourglass import lake, settings
from hourglass.alerts import run_failure_alert
from hourglass.channels.http import SIGNATURE_HEADER, HttpSender, SignatureError, sign, verify
from hourglass.ledger import Ledger
from hourglass.redact import redact
from hourglass.resources.channels import channel_resources
from hourglass.sample.channel_servers import LoopbackHttp

world = base.world
SECRET = "geheim"


def message(key: str, **payload) -> dict:
    return {"key": key, "payload": {"customer_key": key, "member": True, **payload}}


def test_the_signature_covers_timestamp_key_and_body_as_documented():
    sender = HttpSender("http://127.0.0.1:9/crm", "", SECRET, 1, 0.0, 1.0)
    before = int(time.time())
    body, headers = sender.request(message("k1", naam="Zoë"))
    after = int(time.time())
    sender.close()
    # A receiver written from docs/campaigns.md: HMAC-SHA256 of "<t>.<Idempotency-Key>.<body>", hex.
    fields = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER].split(","))
    assert set(fields) == {"t", "v1"} and before <= int(fields["t"]) <= after
    signed = f"{fields['t']}.{headers['Idempotency-Key']}.".encode() + body
    assert fields["v1"] == hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()

    t = int(fields["t"])
    assert verify(SECRET, headers[SIGNATURE_HEADER], "k1", body).timestamp == t
    assert verify(SECRET, headers[SIGNATURE_HEADER], "k1", body, now=t + 300).timestamp == t  # the tolerance's edge
    refusals = {
        "another key": (headers[SIGNATURE_HEADER], "k2", body, t),
        "another body": (headers[SIGNATURE_HEADER], "k1", body.replace(b"true", b"false"), t),
        "another secret": (sign("anders", "k1", body, t), "k1", body, t),
        "too old": (headers[SIGNATURE_HEADER], "k1", body, t + 301),
        "from the future": (headers[SIGNATURE_HEADER], "k1", body, t - 301),
        "no timestamp": (f"v1={fields['v1']}", "k1", body, t),
        "the body-only scheme": (
            "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "k1",
            body,
            t,
        ),
    }
    reasons = {}
    for name, (header, key, content, now) in refusals.items():
        with pytest.raises(SignatureError) as refused:
            verify(SECRET, header, key, content, now=now)
        reasons[name] = refused.value.reason
    assert reasons == {"another key": "mismatch", "another body": "mismatch", "another secret": "mismatch",
                       "too old": "stale", "from the future": "stale", "no timestamp": "malformed",
                       "the body-only scheme": "malformed"}  # fmt: skip
    # While a secret is rotated a sender may sign with both: one matching v1 is enough.
    rotating = f"{sign('oud', 'k1', body, t)},v1={fields['v1']}"
    assert verify(SECRET, rotating, "k1", body, now=t).digest == fields["v1"]


def test_the_receiver_refuses_replayed_and_stale_requests_and_answers_honest_retries():
    with LoopbackHttp(secret=SECRET) as crm:
        sender = HttpSender(crm.url, "", SECRET, 2, 0.0, 5.0)
        body, headers = sender.request(message("k1"))
        assert requests.post(crm.url, data=body, headers=headers, timeout=5).status_code == 200

        # Someone who captured that request sends it again: byte for byte, then under another key.
        replayed = requests.post(crm.url, data=body, headers=headers, timeout=5)
        assert replayed.status_code == 409
        other_key = requests.post(crm.url, data=body, headers={**headers, "Idempotency-Key": "k2"}, timeout=5)
        assert other_key.status_code == 401
        # A request signed with the right secret but five minutes ago (or six ahead: the time it takes to arrive
        # brings a future stamp closer, and a loaded machine took a second), and one without a signature.
        for shift in (-301, 360):
            old = {**headers, SIGNATURE_HEADER: sign(SECRET, "k1", body, int(time.time()) + shift)}
            assert requests.post(crm.url, data=body, headers=old, timeout=5).status_code == 401
        unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}
        assert requests.post(crm.url, data=body, headers=unsigned, timeout=5).status_code == 401
        assert crm.state.refused == {"replayed": 1, "mismatch": 1, "stale": 2, "malformed": 1}
        assert list(crm.state.applied) == ["k1"] and not crm.state.replays

        # An honest retry of k1 (a crash resumed, a lost answer) is signed afresh: answered, recognised, not applied.
        first = verify(SECRET, headers[SIGNATURE_HEADER], "k1", body).timestamp
        while int(time.time()) == first:  # a fresh second, so the retry's signature differs
            time.sleep(0.05)
        (outcome,) = sender.deliver([message("k1")])
        assert outcome.status == "sent"
        assert list(crm.state.applied) == ["k1"] and crm.state.replays == {"k1": 1}
        assert sum(crm.state.refused.values()) == 5  # nothing more refused

        # A receiver answering 409 (it saw that exact request already) gets the message again later, signed anew.
        crm.fail(409, times=1)
        (conflict,) = sender.deliver([message("k3")])
        sender.close()
    assert conflict.status == "failed" and conflict.reason.startswith("HTTP 409")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


SMS_PATH, SMS_QUERY_TOKEN, SMS_TOKEN = "v1/acct-9f3e1c/SECRETSMSPATH", "QUERYTOKEN77", "BEARERTOKEN42"
CRM_PATH, CRM_PASSWORD, CRM_SECRET = "hooks/T0001/SECRETCRMPATH", "CRMPASSWORD5", "HMACKEY3141"
LEAKS = (SMS_PATH, SMS_QUERY_TOKEN, SMS_TOKEN, CRM_PATH, CRM_PASSWORD, CRM_SECRET)


def test_endpoint_urls_and_secrets_stay_out_of_the_ledger_receipts_and_dagster(world, dbt_manifest, monkeypatch):
    """SMS and webhook endpoints down: their failure reasons name the host and the error, never the path,
    the query's token, the login or a secret, wherever the reasons are kept."""
    from hourglass.assets.activation import build_activation_asset

    home, people = world
    port = closed_port()
    monkeypatch.setenv("HOURGLASS_SMS_URL", f"http://127.0.0.1:{port}/{SMS_PATH}?token={SMS_QUERY_TOKEN}")
    monkeypatch.setenv("HOURGLASS_SMS_TOKEN", SMS_TOKEN)
    monkeypatch.setenv("HOURGLASS_WEBHOOK_URL", f"http://crm:{CRM_PASSWORD}@127.0.0.1:{port}/{CRM_PATH}")
    monkeypatch.setenv("HOURGLASS_WEBHOOK_SECRET", CRM_SECRET)
    campaign = replace(base.ABANDONERS, channels=("sms", "webhook"), holdout_share=0.0)
    base.write_audience(campaign.name, people[:5])
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([build_activation_asset(campaign, [campaign])], resources=channel_resources(),
                            instance=instance, raise_on_error=False)  # fmt: skip
    assert result.success  # failed deliveries wait for a retry; the run itself went fine

    with Ledger(settings.ledger_path()) as ledger:
        reasons = [r for (r,) in ledger._con.execute("select reason from messages where status = 'failed'")]
    receipts = duckdb.sql(f"select * from read_parquet('{lake.raw_glob('activation_receipts')}')").fetchall()
    assert len(reasons) == 10 and sum(row.count("failed") for row in receipts) == 10
    assert all(r.startswith("ConnectionError") and f"port={port}" in r and "[redacted]" in r for r in reasons), reasons
    stored = {
        "ledger": "\n".join(reasons),
        "receipts": "\n".join(map(str, receipts)),
        "dagster event log": "\n".join(dg.serialize_value(e) for e in instance.all_logs(result.run_id)),
        "dagster run": dg.serialize_value(run := instance.get_run_by_id(result.run_id)),
        "dagster job snapshot": dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
    }
    leaked = {where: [s for s in LEAKS if s in text] for where, text in stored.items()}
    assert leaked == {where: [] for where in stored}


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("404 Client Error: Not Found for url: https://hooks.example.com/services/T0/B1/XyZ?token=abc",
         "404 Client Error: Not Found for url: https://hooks.example.com/[redacted]"),
        ("Max retries exceeded with url: /services/T0/B1/XyZ (Caused by ...)",
         "Max retries exceeded with url: /[redacted] (Caused by ...)"),
        ("HTTPError('bad gateway for url: http://user:pass@[::1]:8080/p')",
         "HTTPError('bad gateway for url: http://[::1]:8080/[redacted]')"),
        ("nothing secret at http://gw.example.com:8443 or http://gw.example.com/",
         "nothing secret at http://gw.example.com:8443 or http://gw.example.com/"),
        ("Bearer tok-123 refused", "Bearer [redacted] refused"),
    ],
)  # fmt: skip
def test_redaction_keeps_the_endpoint_and_drops_paths_logins_and_secrets(text, redacted):
    assert redact(text, "tok-123") == redacted


def failed_run(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    @dg.op
    def breaks() -> None:
        raise RuntimeError("the step broke")

    @dg.job
    def broken() -> None:
        breaks()

    run = broken.execute_in_process(instance=instance, raise_on_error=False)
    failure = next(e for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE))
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id), dagster_event=failure.dagster_event,
    ).for_run_failure()  # fmt: skip


@pytest.mark.parametrize("down", ["answers 500", "refuses connections"])
def test_a_failing_alert_webhook_raises_an_error_without_its_secret_path(down, monkeypatch):
    instance = dg.DagsterInstance.ephemeral()
    context = failed_run(instance)
    with LoopbackHttp() as hook:
        port = hook.url.split(":")[2].split("/")[0] if down == "answers 500" else str(closed_port())
        hook.fail(500, times=1)
        monkeypatch.setenv("HOURGLASS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}/{CRM_PATH}?token={SMS_TOKEN}")
        with pytest.raises(Exception) as raised:
            run_failure_alert(context)
    text = "".join(traceback.format_exception(raised.value))  # with any cause or context, as Dagster keeps it
    assert not [s for s in LEAKS if s in text], text
    assert "127.0.0.1" in text and port in text and "HOURGLASS_ALERT_WEBHOOK_URL" in text  # which endpoint failed
