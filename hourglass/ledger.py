"""The send ledger: every message key is recorded before it is sent and its outcome after.

SQLite in WAL mode: commits survive a killed process, readers never wait for the writer, and several
campaigns' processes write to one file with short transactions (each waits at most `timeout` for another's
commit) instead of blocking each other for a whole run.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
create table if not exists messages (
    key text primary key,
    campaign text not null,
    customer_key text not null,
    channel text not null,
    send_window text not null,
    status text not null,            -- planned, sending, sent, failed, rejected
    reason text,
    attempts integer not null default 0,
    next_attempt_at real not null default 0,
    updated_at real not null
);
create index if not exists messages_by_window on messages (send_window, customer_key);
create index if not exists messages_by_campaign on messages (campaign, customer_key);
create table if not exists runs (
    campaign text not null,
    send_window text not null,
    run_id text not null,
    audience_size integer not null,
    planned integer not null,
    at real not null
);
"""

# Messages that reached, or may have reached, the person: they count against the frequency cap and cooldown.
DELIVERED = ("sending", "sent")


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # sent, failed (retry later), rejected (never retry)
    reason: str | None = None
    retry_after: float | None = None  # seconds, when the channel said so


class Ledger:
    def __init__(self, path: Path, timeout: float = 60.0):
        self.path = path
        self._con = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")  # durable against a killed process; WAL keeps it consistent
        self._con.executescript(SCHEMA)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence]) -> None:
        with self._con:  # one short transaction
            self._con.execute("begin immediate")
            self._con.executemany(sql, rows)

    def plan(self, messages: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Record (key, campaign, customer_key, channel, send_window) as planned; known keys keep their state."""
        now = time.time()
        self._write(
            "insert or ignore into messages (key, campaign, customer_key, channel, send_window, status, updated_at)"
            " values (?, ?, ?, ?, ?, 'planned', ?)",
            ((*m, now) for m in messages),
        )

    def states(self, keys: Iterable[str]) -> dict[str, tuple[str, int, float]]:
        """key -> (status, attempts, next_attempt_at) for the keys the ledger knows."""
        keys = list(keys)
        found: dict[str, tuple[str, int, float]] = {}
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for key, status, attempts, due in self._con.execute(
                f"select key, status, attempts, next_attempt_at from messages where key in ({marks})", chunk
            ):
                found[key] = (status, attempts, due)
        return found

    def mark_sending(self, keys: Sequence[str]) -> None:
        now = time.time()
        self._write(
            "update messages set status = 'sending', attempts = attempts + 1, updated_at = ? where key = ?",
            ((now, k) for k in keys),
        )

    def record(self, outcomes: Sequence[Outcome], backoff_seconds: float = 60.0) -> None:
        """Outcomes after a send. A failed key waits retry_after, else backoff doubling per attempt (max 64x)."""
        now = time.time()
        self._write(
            "update messages set status = ?, reason = ?, updated_at = ?, next_attempt_at = case when ? = 'failed'"
            " then ? + coalesce(?, ? * (1 << min(max(attempts - 1, 0), 6))) else 0 end where key = ?",
            ((o.status, o.reason, now, o.status, now, o.retry_after, backoff_seconds, o.key) for o in outcomes),
        )

    def delivered_per_customer(self, since_window: str, before_window: str, channels: Sequence[str]) -> Counter:
        """Messages on `channels` that reached (or may have reached) each customer in [since, before)."""
        marks = ",".join("?" * len(channels))
        counts: Counter = Counter()
        for customer, n in self._con.execute(
            "select customer_key, count(*) from messages where send_window >= ? and send_window < ?"
            f" and channel in ({marks}) and status in {DELIVERED} group by customer_key",
            (since_window, before_window, *channels),
        ):
            counts[customer] = n
        return counts

    def last_delivered(self, campaign: str, before_window: str) -> dict[str, str]:
        """customer_key -> the latest earlier send window in which `campaign` reached them (for cooldown)."""
        return dict(
            self._con.execute(
                "select customer_key, max(send_window) from messages where campaign = ? and send_window < ?"
                f" and status in {DELIVERED} group by customer_key",
                (campaign, before_window),
            ).fetchall()
        )

    def last_run(self, campaign: str) -> int | None:
        """The audience size of the campaign's last completed run."""
        row = self._con.execute(
            "select audience_size from runs where campaign = ? order by at desc limit 1", (campaign,)
        ).fetchone()
        return None if row is None else int(row[0])

    def record_run(self, campaign: str, send_window: str, run_id: str, audience_size: int, planned: int) -> None:
        self._write(
            "insert into runs values (?, ?, ?, ?, ?, ?)",
            [(campaign, send_window, run_id, audience_size, planned, time.time())],
        )

    def counts(self, campaign: str | None = None) -> Counter:
        where, args = ("where campaign = ?", (campaign,)) if campaign else ("", ())
        return Counter(
            dict(self._con.execute(f"select status, count(*) from messages {where} group by status", args).fetchall())
        )
