"""The weekly KPI digest: each team gets the scorecard rows it owns, the figures that moved most and a link to the
report, by e-mail (HOURGLASS_SMTP_*) or, without an SMTP host, in HOURGLASS_HOME/outbox/digest/.

Teams and their addresses are in a file analysts edit (dbt_project/teams.yml, or HOURGLASS_TEAMS_FILE). These are
colleagues, not customers: no consent applies, and the digest keeps its own record of what went out
(HOURGLASS_HOME/digests/<day>.jsonl, keyed per team, address and day) instead of the customer send ledger. A
digest holds scorecard figures only, never a customer's data.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from hourglass import scorecard, settings
from hourglass.channels import Sender, valid_email
from hourglass.channels.outbox import KeyedJsonl

CAMPAIGN = "kpi_digest"  # the X-Hourglass-Campaign header and the outbox folder's name
MOVED_MOST = 3


@dataclass(frozen=True)
class Team:
    key: str  # as kpi_goals.owner names it
    name: str
    recipients: tuple[str, ...]


def teams_file() -> Path:
    return Path(os.environ.get("HOURGLASS_TEAMS_FILE") or settings.DBT_PROJECT_DIR / "teams.yml")


def load_teams(path: Path | None = None) -> dict[str, Team]:
    path = path or teams_file()
    found = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("teams") or {}
    teams = {}
    for key, entry in found.items():
        recipients = tuple((entry or {}).get("recipients") or ())
        bad = [r for r in recipients if not valid_email(r)]
        if bad or not recipients:
            raise ValueError(f"{path}: team {key} needs recipients that are e-mail addresses, got {list(recipients)}")
        teams[str(key)] = Team(str(key), str(entry.get("name") or key), recipients)
    return teams


def report_link() -> str:
    """Where the team reads the whole report: HOURGLASS_REPORT_URL (where it is published), else the file."""
    return os.environ.get("HOURGLASS_REPORT_URL") or (settings.home() / "reports" / "kpi_report.html").as_uri()


@dataclass(frozen=True)
class Digest:
    team: Team
    rows: list[dict[str, Any]]
    moved: list[dict[str, Any]]
    subject: str
    body: str
    html: str


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['kpi']}: {scorecard.figure(row['actual'])} against goal {scorecard.figure(row['target'])}"
        f" ({row['direction']} is better), {row['status']}; change {scorecard.change(row)}"
    )


def build(team: Team, rows: list[dict[str, Any]], day: date, link: str) -> Digest:
    counts = {status: sum(r["status"] == status for r in rows) for status in ("on track", "at risk", "missed")}
    period = f"{rows[0]['period_start']:%B %Y}" if rows else "-"
    subject = f"KPI digest {team.name}, {period}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    moved = scorecard.moved_most(rows, MOVED_MOST)
    text = [f"Your KPIs for {period} against their goals (as of {day}):", ""]
    text += [_line(r) for r in rows] + ["", "Moved most against the month before:"]
    text += [f"{r['kpi']}: {scorecard.change(r)}" for r in moved] or ["(no KPI has a month before to compare)"]
    text += ["", f"The whole report: {link}", "", "Goals are set in dbt_project/seeds/kpi_goals.csv."]
    head = "".join(f"<th>{h}</th>" for h in ("KPI", "actual", "goal", "better", "status", "change"))
    cells = [
        (r["kpi"], scorecard.figure(r["actual"]), scorecard.figure(r["target"]), r["direction"], r["status"],
         scorecard.change(r))
        for r in rows
    ]  # fmt: skip
    table = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in cells)
    markup = (
        f"<!doctype html>\n<html><body>\n<p>Your KPIs for {html.escape(period)} against their goals (as of {day}):</p>"
        f"\n<table><tr>{head}</tr>{table}</table>\n<p>Moved most: "
        + html.escape("; ".join(f"{r['kpi']} {scorecard.change(r)}" for r in moved) or "-")
        + f'</p>\n<p><a href="{html.escape(link)}">The whole report</a></p>\n</body></html>\n'
    )
    return Digest(team, rows, moved, subject, "\n".join(text) + "\n", markup)


def build_all(rows: Iterable[dict[str, Any]], teams: dict[str, Team], day: date, link: str) -> list[Digest]:
    """One digest per team that owns a scorecard row; ValueError for an owner without a team in the teams file."""
    owned: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        owned.setdefault(row["owner"], []).append(row)
    unknown = sorted(set(owned) - set(teams))
    if unknown:
        raise ValueError(f"kpi_goals names owners with no team in {teams_file()}: {', '.join(unknown)}")
    return [build(teams[owner], owned[owner], day, link) for owner in sorted(owned)]


def message_key(team: str, address: str, day: date) -> str:
    return hashlib.sha256(f"{CAMPAIGN}|{team}|{address}|{day}".encode()).hexdigest()[:32]


def messages(digests: Iterable[Digest], day: date) -> list[dict[str, Any]]:
    """One e-mail per recipient, in the shape the e-mail channels take."""
    return [
        {"key": message_key(d.team.key, to, day), "campaign": CAMPAIGN, "team": d.team.key, "to": to,
         "subject": d.subject, "body": d.body, "html": d.html}
        for d in digests
        for to in d.team.recipients
    ]  # fmt: skip


def sent_record(day: date) -> KeyedJsonl:
    return KeyedJsonl(settings.home() / "digests" / f"{day}.jsonl")


def send(digests: list[Digest], sender: Sender, day: date) -> dict[str, int]:
    """Send what has not gone out for `day`; returns counts per outcome (sent, failed, rejected, already_sent)."""
    record = sent_record(day)
    done = {r["key"] for r in record.records()}
    due = [m for m in messages(digests, day) if m["key"] not in done]
    counts = {"already_sent": sum(len(d.team.recipients) for d in digests) - len(due)}
    try:
        outcomes = sender.deliver(due) if due else []
        sender.finish()
    finally:
        sender.close()
    by_key = {m["key"]: m for m in due}
    record.append(
        [
            {"key": o.key, "team": by_key[o.key]["team"], "to": by_key[o.key]["to"]}
            for o in outcomes
            if o.status == "sent"
        ]
    )
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts
