"""The sample's past campaigns (hourglass/sample/generator/history.py), as the session pipeline loaded them: the
receipts came in through the lake like the activation's own, name people the identity knows, and hold what the
activation's rules allow: consent at the time, the holdout as activation draws it, cooldown and frequency cap."""

import csv
from collections import defaultdict
from datetime import date, datetime, timedelta
from itertools import pairwise

import duckdb
import pytest

from hourglass import lake
from hourglass.activation import RECEIPTS, Rules, in_holdout
from hourglass.sample.generator import history
from hourglass.sources import CONTRACTS


@pytest.fixture(scope="module")
def past(pipeline) -> list[dict]:
    home, _ = pipeline
    with duckdb.connect() as con:
        return (
            con.sql(f"select * from read_parquet('{lake.raw_glob(RECEIPTS)}') where run_id like 'history-%'")
            .to_arrow_table()
            .to_pylist()
        )


def test_past_receipts_entered_the_lake_and_name_known_customers(pipeline, past):
    home, _ = pipeline
    assert not list((home / "landing" / RECEIPTS).rglob("*.parquet")), "moved into the lake, not copied"
    assert {r["campaign"] for r in past} == set(history.PLANTED_CHANCE)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        known = {key for (key,) in con.execute("select customer_key from customer_360").fetchall()}
        measured = {
            name
            for (name,) in con.execute(
                "select distinct campaign from int_campaign_outcomes where attribution_complete"
            ).fetchall()
        }
    assert {r["customer_key"] for r in past} <= known
    assert set(history.PLANTED_CHANCE) <= measured


def test_past_sends_follow_the_activation_rules(pipeline, past):
    """Holdout as activation draws it, consent granted in the CRM before the send, cooldown and frequency cap, a
    held-out person counted by both as touched (their message's channel is on the receipt)."""
    home, _ = pipeline
    campaigns = {c.name: c for c in history.campaigns(history.audience_models())}
    rules = Rules.from_env()
    crm = CONTRACTS["crm_customers"]
    (path,) = (home / "landing" / "crm_customers").glob("crm_customers_*-*-??.csv")
    with path.open(encoding=crm.encoding) as fh:
        newest = {}
        for row in csv.DictReader(fh, delimiter=crm.delimiter):
            if row["updated_at"] >= newest.get(row["customer_id"], {}).get("updated_at", ""):
                newest[row["customer_id"]] = row
    by_key = {history.customer_key(cid): row for cid, row in newest.items()}
    touched = defaultdict(list)  # (campaign, customer) -> send windows they were sent or held out in
    messages = defaultdict(list)  # customer -> windows of e-mails and text messages, sent or held out
    for r in past:
        campaign = campaigns[r["campaign"]]
        held = in_holdout(campaign.name, r["customer_key"], campaign.holdout_share)
        assert held == (r["status"] == "held_out") or r["status"] == "suppressed", r
        if r["status"] not in ("sent", "held_out") or r["channel"] not in ("email", "sms"):
            continue
        person = by_key[r["customer_key"]]
        consent = f"consent_{r['channel']}_marketing"
        assert person[consent] == "true", r
        assert datetime.fromisoformat(person[consent + "_at"]).date() <= r["send_window"], r
        touched[(campaign.name, r["customer_key"])].append(r["send_window"])
        messages[r["customer_key"]].append(r["send_window"])
    assert touched and {r["status"] for r in past if r["channel"] in ("email", "sms")} >= {"sent", "held_out"}
    for (name, _), windows in touched.items():
        windows.sort()
        assert all((b - a).days >= campaigns[name].cooldown_days for a, b in pairwise(windows)), name
    for windows in messages.values():
        for day in windows:
            recent = [w for w in windows if day - timedelta(days=rules.frequency_days) < w <= day]
            assert len(recent) <= rules.frequency_cap


def test_the_history_ends_before_it_could_change_the_days_own_sends(past):
    """The history is not in the send ledger: each campaign's last past send is older than its cooldown, the
    frequency window and its attribution window, so the run's own plan is the same with or without it."""
    from conftest import AS_OF

    campaigns = {c.name: c for c in history.campaigns(history.audience_models())}
    goals = history.goals(history.audience_models())
    for name in history.PLANTED_CHANCE:
        last = max(r["send_window"] for r in past if r["campaign"] == name)
        gap = max(campaigns[name].cooldown_days, Rules.from_env().frequency_days, goals[name]["attribution_days"])
        assert last < AS_OF - timedelta(days=gap), name
    assert isinstance(last, date)
