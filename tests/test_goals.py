"""KPI goals and what they set in motion, on the session's nightly run (tests/conftest.py `pipeline`): the scorecard
against the seed, the social KPIs, the service follow-up's hand-over to the service desk's webhook, each team's
digest at the loopback SMTP server, and the missed-goal check and alert."""

import csv
import email
import os
import re
import shutil
import subprocess
from datetime import timedelta
from email import policy

import dagster as dg
import duckdb
import pytest
from conftest import AS_OF

from hourglass import activation, settings
from hourglass.campaigns import Campaign, audience_nodes
from hourglass.channels.ads import AdAudienceResource
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource
from hourglass.sample.channel_servers import LoopbackHttp, LoopbackSmtp

SEED = settings.DBT_PROJECT_DIR / "seeds" / "kpi_goals.csv"


def goals() -> list[dict]:
    with SEED.open(newline="") as fh:
        return list(csv.DictReader(fh))


def expected_status(actual, target: float, direction: str, margin: float) -> str:
    """The rule docs/model.md states, written again here, apart from the SQL."""
    if actual is None:
        return "no data"
    ahead = actual - target if direction == "higher" else target - actual
    if ahead >= 0:
        return "on track"
    return "at risk" if -ahead <= margin * abs(target) else "missed"


def scorecard(home) -> dict[str, dict]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rel = con.sql("select * from kpi_scorecard")
        return {row[0]: dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()}


def test_the_scorecard_has_every_goal_with_its_status(pipeline):
    home, _ = pipeline
    found = scorecard(home)
    assert set(found) == {g["kpi"] for g in goals()}
    margin = settings.dbt_vars()["kpi_at_risk_margin"]
    for goal in goals():
        row = found[goal["kpi"]]
        assert (row["owner"], row["target"]) == (goal["owner"], float(goal["target"]))
        assert row["period_start"] == (AS_OF.replace(day=1) - timedelta(days=1)).replace(day=1)
        assert row["status"] == expected_status(row["actual"], row["target"], row["direction"], margin), row
    # every KPI but the campaigns' (no sends in the last complete month on the sample) has a value
    assert all(r["actual"] is not None for k, r in found.items() if not k.startswith("campaign_")), found
    assert {r["status"] for r in found.values()} >= {"on track", "missed"}


def test_the_social_kpis_count_every_mention_and_the_customers_behind_them(pipeline):
    home, _ = pipeline
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        mentions, negative, topics = con.execute(
            "select count(*), count(*) filter (where sentiment = 'negative'), count(distinct topic)"
            " from int_social_mentions"
        ).fetchone()
        assert con.execute("select sum(mentions), sum(negative_mentions) from kpi_social_monthly").fetchone() == (
            mentions,
            negative,
        )
        assert mentions == con.execute("select count(*) from stg_social_mentions").fetchone()[0]
        assert topics > 3  # the keywords of seeds/social_topics.csv find topics, not only "other"
        # Customers behind mentions: the CRM id the listening tool gave, resolved by identity to customer_360.
        linked = con.execute(
            """
            select count(*) from stg_social_mentions as m
            inner join identity_map as map on map.record_id = 'social:' || m.mention_id
            inner join identity_map as crm on crm.record_id = 'crm:' || m.customer_id
            where map.customer_key = crm.customer_key
            """
        ).fetchone()[0]
        assert linked > 0
        assert con.execute("select count(customer_key) from int_social_mentions").fetchone()[0] == linked
        share = con.execute(
            "select kpi_value from kpi_values where kpi = 'negative_mention_share' order by kpi_month desc limit 1"
        ).fetchone()[0]
        assert 0 <= share <= 1


def test_changing_a_goal_changes_the_status_with_no_python(pipeline_copy, tmp_path, monkeypatch):
    """An analyst edits seeds/kpi_goals.csv and builds: the scorecard follows. Here in a copy of the dbt project
    and of the warehouse, with only the seed and the scorecard built."""
    home, _ = pipeline_copy
    before = scorecard(home)
    kpi = next(k for k, r in before.items() if r["actual"] and r["status"] != "missed" and r["direction"] == "higher")
    project = tmp_path / "dbt_project"
    shutil.copytree(settings.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seed = project / "seeds" / "kpi_goals.csv"
    text = seed.read_text()
    line = next(raw for raw in text.splitlines() if raw.startswith(f"{kpi},"))
    fields = line.split(",")
    fields[2] = str(before[kpi]["actual"] * 2)  # twice what it reached: missed
    seed.write_text(text.replace(line, ",".join(fields)))
    env = {**os.environ, "HOURGLASS_HOME": str(home), "HOURGLASS_AS_OF_DATE": AS_OF.isoformat()}
    built = subprocess.run(
        [settings.PROJECT_ROOT / ".venv" / "bin" / "dbt", "build", "--select", "kpi_goals", "kpi_scorecard"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:]
    after = scorecard(home)
    assert after[kpi]["status"] == "missed" and after[kpi]["target"] == before[kpi]["actual"] * 2
    assert {k: r["status"] for k, r in after.items() if k != kpi} == {
        k: r["status"] for k, r in before.items() if k != kpi
    }


def test_service_follow_up_has_members_and_reaches_the_service_desk_webhook_once(pipeline_copy, monkeypatch):
    """Its members go to the service team's system as signed webhook calls, without contact details; no consent is
    asked (no message reaches the customer); the next day the cooldown keeps them from being handed over again."""
    home, _ = pipeline_copy
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    (node,) = [n for n in audience_nodes(_manifest()) if n["name"] == "service_follow_up"]
    campaign = Campaign.from_manifest_node(node)
    assert campaign.channels == ("webhook",) and campaign.purpose == "service"
    members = {r["customer_key"] for r in activation.read_audience(campaign.name)}
    assert members
    (home / "ledger" / "sends.sqlite").unlink()  # the nightly run sent them to the outbox: send afresh
    with LoopbackHttp(secret="geheim") as desk:
        channels = activation.Channels(
            outbox=OutboxResource(), smtp=SmtpResource(), sms=SmsResource(),
            webhook=WebhookResource(url=desk.url, secret="geheim"), ad_audiences=AdAudienceResource(),
        )  # fmt: skip
        first = activation.run_campaign(campaign, [campaign], channels, run_id="service-1")
        assert first["result_sent"] == len(members) == len(desk.state.applied)
        payloads = list(desk.state.applied.values())
        assert {p["customer_key"] for p in payloads} == members
        assert all(p["campaign"] == "service_follow_up" for p in payloads)
        assert {p["last_signal"] for p in payloads} <= {"negative_social_mention", "nps_detractor"}
        assert not {"email", "phone", "to", "first_name"} & set().union(*payloads)
        later = activation.run_campaign(
            campaign, [campaign], channels, run_id="service-2", window=AS_OF + timedelta(days=1)
        )
        assert len(desk.state.applied) == len(members) and "result_sent" not in later
        assert later["webhook_suppressed_cooldown"] == len(members)


def _manifest() -> dict:
    from hourglass.project import manifest

    return manifest()


def test_each_team_gets_its_digest_with_the_warehouse_figures(pipeline_copy, monkeypatch):
    from hourglass import digest
    from hourglass.assets.digest import team_digest

    home, _ = pipeline_copy
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    rows = scorecard(home)
    teams = digest.load_teams()
    with LoopbackSmtp() as smtp:
        resources = {"smtp": SmtpResource(host="127.0.0.1", port=smtp.port, tls="off"), "outbox": OutboxResource()}
        assert dg.materialize([team_digest], resources=resources).success
        received = [email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in smtp.messages]
        assert dg.materialize([team_digest], resources=resources).success  # a re-run sends nothing again
        assert len(smtp.messages) == len(received)
    owners = {r["owner"] for r in rows.values()}
    assert sorted(m["To"] for m in received) == sorted(a for t in owners for a in teams[t].recipients)
    for message in received:
        (team,) = [t for t in owners if message["To"] in teams[t].recipients]
        body = message.get_body(("plain",)).get_content()
        assert "@" not in body  # scorecard figures only: no address, no customer
        lines = dict(re.findall(r"^(\w+): (.+ against goal .+)$", body, re.M))
        assert set(lines) == {k for k, r in rows.items() if r["owner"] == team}
        for kpi, line in lines.items():
            actual, target = re.match(r"(\S+) against goal (\S+)", line).groups()
            row = rows[kpi]
            assert f", {row['status']};" in line
            assert float(target.replace(",", "")) == pytest.approx(row["target"], rel=0.01)
            if row["actual"] is None:
                assert actual == "-"
            else:
                assert float(actual.replace(",", "")) == pytest.approx(row["actual"], rel=0.01, abs=0.001)
        assert "Moved most" in body and "kpi_report.html" in body


def test_a_missed_goal_is_a_check_naming_kpi_and_owner_and_reaches_the_alert_webhook(pipeline, monkeypatch):
    from hourglass.assets.digest import SCORECARD
    from hourglass.assets.goals import goals_met

    home, result = pipeline
    missed = {(k, r["owner"]) for k, r in scorecard(home).items() if r["status"] == "missed"}
    assert missed  # the sample misses some goals
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "goals_met"]
    assert evaluation.asset_key == SCORECARD and not evaluation.passed
    assert {(m["kpi"], m["owner"]) for m in evaluation.metadata["missed"].value} == missed
    with LoopbackHttp() as alerts:
        monkeypatch.setenv("HOURGLASS_ALERT_WEBHOOK_URL", alerts.url)
        checked = dg.materialize([dg.AssetSpec(SCORECARD), goals_met], selection=dg.AssetSelection.checks(goals_met))
        assert checked.success
        (posted,) = alerts.state.applied.values()
    assert posted["event"] == "kpi_goal_missed"
    assert {(m["kpi"], m["owner"]) for m in posted["missed"]} == missed


def test_the_digest_goes_out_weekly_on_its_own_schedule_not_nightly(dbt_manifest):
    """(The nightly run evaluates goals_met: test_a_missed_goal_is_a_check_... reads it from its result.)"""
    from hourglass.definitions import defs

    schedule = defs.resolve_schedule_def("weekly_team_digest_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 8 * * 1", "Europe/Amsterdam")
    weekly = defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys
    assert weekly == {dg.AssetKey("team_digest")}
    nightly = defs.resolve_job_def("nightly").asset_layer
    assert dg.AssetKey("team_digest") not in nightly.selected_asset_keys


def test_a_webhook_field_may_not_carry_contact_details():
    meta = {"campaign": {"channels": ["webhook"], "webhook_fields": ["last_signal", "email"]}}
    node = {"name": "x", "original_file_path": "models/audiences/x.sql", "config": {"meta": meta}}
    with pytest.raises(ValueError, match="contact details"):
        Campaign.from_manifest_node(node)
    meta["campaign"]["webhook_fields"] = ["last_signal"]
    assert Campaign.from_manifest_node(node).webhook_fields == ("last_signal",)
