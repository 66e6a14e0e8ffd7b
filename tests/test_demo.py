"""`make demo` (`hourglass demo`) on its generated data alone, no hand-made rows: every campaign has members and
sends, whatever the as-of date, and the console shows a few lines of progress and the summary while the full
output (dbt, Dagster, warnings) goes to the log file it names.

Each as-of date is one nightly run at the demo's 2,000 customers (one to two minutes).
"""

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest

from hourglass.cli import DEMO_CUSTOMERS, DEMO_SEED

# a summer day (few orders, no season running) and a winter one (`make soak`: the same run, another season);
# past days: a run's day must be a partition
AS_OF_DATES = (date(2026, 7, 15), pytest.param(date(2026, 2, 27), marks=pytest.mark.soak))
OUTBOX_CHANNELS = {"email", "sms", "webhook"}  # the message channels without an endpoint configured
MIN_MEMBERS = {"workshop_signup_abandoners": 10, "churn_risk_valuable": 5}


@pytest.fixture(scope="module", params=AS_OF_DATES, ids=str)
def demo(request, tmp_path_factory):
    day = request.param
    home = tmp_path_factory.mktemp(f"demo-{day}")
    env = {
        **os.environ,
        "HOURGLASS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "HOURGLASS_NOW": f"{day}T10:00:00",  # outside every campaign's quiet hours
    }
    env.pop("HOURGLASS_AS_OF_DATE", None)
    command = [sys.executable, "-m", "hourglass.cli", "demo", "--as-of", day.isoformat()]
    command += ["--customers", str(DEMO_CUSTOMERS), "--seed", str(DEMO_SEED)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return home, done.stdout + done.stderr


def audience_sizes(home) -> dict[str, int]:
    from hourglass.campaigns import audience_nodes
    from hourglass.project import manifest

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {
            node["name"]: con.execute(f'select count(*) from "{node["name"]}"').fetchone()[0]
            for node in audience_nodes(manifest())
        }


def outbox_messages(home) -> Counter:
    """(channel, campaign) -> messages in the outbox"""
    counts: Counter = Counter()
    for path in (home / "outbox").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            message = json.loads(line)
            counts[message["channel"], message["campaign"]] += 1
    return counts


def section(lines: list[str], title: str) -> list[str]:
    """The lines under `title` up to the next empty line."""
    start = lines.index(next(line for line in lines if line.startswith(title))) + 1
    return lines[start : lines.index("", start)]


def test_the_console_shows_each_campaigns_measured_effect_beside_the_planted_one(demo, dbt_manifest):
    """Past campaigns (the sample's history): the uplift and its 95% interval as campaign_effect_overall has them,
    the planted truth's direction beside it; at least three intervals above zero, the campaign without an
    effect covering zero."""
    home, console = demo
    rows = {}
    for line in section(console.splitlines(), "campaign effect"):
        found = re.match(r"\s+(\w+)\s+([+-][\d.]+)\s+\[\s*([+-][\d.]+),\s*([+-][\d.]+)\]\s+(.+?)\s{2,}(\w+)$", line)
        if found:
            rows[found.group(1)] = found.groups()[1:]
    planted = json.loads((home / "landing" / "_truth" / "planted.json").read_text())["campaign_history"]["campaigns"]
    assert set(rows) == set(planted)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        measured = {r[0]: r[1:] for r in con.execute(
            "select campaign, uplift, uplift_ci_low, uplift_ci_high, verdict from campaign_effect_overall"
        ).fetchall()}  # fmt: skip
    for name, (uplift, low, high, verdict, direction) in rows.items():
        assert direction == planted[name]["direction"]
        assert [round(100 * v, 1) for v in measured[name][:3]] == [float(uplift), float(low), float(high)]
        assert verdict == measured[name][3]
    assert sum(float(low) > 0 for _, low, _, _, direction in rows.values() if direction == "positive") >= 3
    (null,) = [(low, high) for _, low, high, _, direction in rows.values() if direction == "none"]
    assert float(null[0]) <= 0 <= float(null[1])


def test_every_campaign_has_members_and_sends_on_the_demo_data(demo, dbt_manifest):
    home, _ = demo
    sizes = audience_sizes(home)
    assert len(sizes) >= 6
    too_small = {name: n for name, n in sizes.items() if n < MIN_MEMBERS.get(name, 1)}
    assert not too_small, f"audiences below their minimum: {too_small}"
    sent = outbox_messages(home)
    assert sent["webhook", "churn_risk_valuable"] > 0
    assert {campaign for _, campaign in sent} == set(sizes), "every campaign sent something"


def test_console_shows_progress_and_summary_and_the_log_holds_the_rest(demo, dbt_manifest):
    home, console = demo
    lines = console.splitlines()
    assert len(lines) < 60, console
    assert "warning" not in console.lower(), console
    assert "Running with dbt" not in console and not re.search(r"\bPASS\b", console), "dbt's output is in the log"
    (log_line,) = [line for line in lines if line.startswith("full log: ")]
    log = Path(log_line.removeprefix("full log: ").strip())
    assert log.parent == home / "logs" and log.exists()
    text = log.read_text()
    assert "Running with dbt=" in text and "Completed successfully" in text and " PASS " in text
    # per campaign: its audience size and what its run did, as the warehouse and the outbox have them
    header = next(line for line in lines if line.split()[:1] == ["campaign"])
    assert re.search(r"audience\s+sent\s+failed\s+suppressed\s+held out\s+sent by channel", header)
    sizes = audience_sizes(home)
    rows = {line.split()[0]: line for line in section(lines, "campaigns:") if line.split()[0] in sizes}
    assert {name: int(row.split()[1].replace(",", "")) for name, row in rows.items()} == sizes
    messages = outbox_messages(home)
    for name, row in rows.items():
        by_channel = {channel: int(n.replace(",", "")) for channel, n in re.findall(r"([a-z_]+) ([\d,]+)", row)}
        in_outbox = {channel: n for (channel, campaign), n in messages.items() if campaign == name}
        assert {c: n for c, n in by_channel.items() if c in OUTBOX_CHANNELS} == in_outbox, name


def test_the_console_shows_each_owners_goals(demo, dbt_manifest):
    """The scorecard per owner, as kpi_scorecard has it: each team's statuses and the KPIs that missed their goal."""
    home, console = demo
    shown = {line.split()[0]: line for line in section(console.splitlines(), "KPI goals")[:-1]}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select owner, kpi, status from kpi_scorecard").fetchall()
    assert set(shown) == {owner for owner, _, _ in rows}
    for owner, kpi, status in rows:
        missed = shown[owner].partition("missed: ")[2].split(", ")
        assert (kpi in missed) == (status == "missed")
