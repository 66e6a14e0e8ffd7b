"""The send ledger: every message key is claimed before it is sent and its outcome recorded after.

SQLite in WAL mode: commits survive a killed process, readers never wait for the writer, and several
campaigns' processes write to one file with short transactions (each waits at most `timeout` for another's
commit) instead of blocking each other for a whole run.

A sender claims a batch of keys with compare-and-set before handing it to a channel, so two senders of one
campaign (two CLI runs, the CLI beside the Dagster asset) never send the same key; a claim names the machine,
so the rule holds for a ledger that several machines share as well. A claim belongs to one sender
(`ClaimOwner`), lasts `seconds` and is renewed while the batch is out; only its owner records the outcome.
A claim is taken over once it expired, or at once when its owner ran on this machine and its process is
gone: the taker resends that batch, which on a channel that cannot recognise a resent key may arrive twice.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
create table if not exists messages (
    key text primary key,
    campaign text not null,
    customer_key text not null,
    channel text not null,
    send_window text not null,
    status text not null,            -- planned, sending (claimed: in flight), sent, failed, rejected, held_out
    reason text,
    attempts integer not null default 0,
    next_attempt_at real not null default 0,
    updated_at real not null,
    claim_owner text,                -- the sender that claimed the key last (ClaimOwner.token)
    claim_host text,                 -- where that sender ran (ClaimOwner.host) ...
    claim_pid integer,               -- ... and as which process
    claim_until real not null default 0
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

# Columns added after the first release: a ledger written before them gains them when opened.
CLAIM_COLUMNS = {
    "claim_owner": "text",
    "claim_host": "text",
    "claim_pid": "integer",
    "claim_until": "real not null default 0",
}

# Messages that reached, or may have reached, the person, and the messages a holdout stood in for: they count
# against the frequency cap and cooldown. A claimed key is 'sending' from its claim until its outcome is recorded.
# A held-out person counts as touched so that they wait out the cooldown and use up the cap as a treated one
# does: otherwise the same held-out people come back in every window while treated ones rest, and a held-out
# person gets the next campaign's message where a treated one was capped, and the comparison measures both.
TOUCHED = ("sending", "sent", "held_out")


def _machine() -> str:
    """This machine and process namespace: process ids mean the same process only where this is the same."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:  # no way to tell: a name of its own, so no other process is ever judged gone
        return f"{socket.gethostname()}/unknown-{uuid.uuid4().hex}"
    return f"{socket.gethostname()}/{hashlib.blake2b(f'{boot} {namespace}'.encode(), digest_size=6).hexdigest()}"


def _process_gone(pid: int) -> bool:
    """True when no process `pid` runs here any more (a zombie waiting for its parent counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


@dataclass(frozen=True)
class ClaimOwner:
    """One sender: its run, this process and a token of its own, so two senders in one run stay apart."""

    run_id: str
    host: str = field(default_factory=_machine)
    pid: int = field(default_factory=os.getpid)
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def token(self) -> str:
        return f"{self.run_id}/{self.nonce}"

    def may_take_over(self, host: str | None, pid: int | None) -> bool:
        """Whether a live-looking claim by (host, pid) is an orphan: its process ran here and is gone."""
        return host == self.host and pid is not None and pid != self.pid and _process_gone(pid)


# Why a key is not claimed for sending now; each is a count in the send report.
ALREADY_SENT = "already_sent"
ALREADY_REJECTED = "already_rejected"
ALREADY_HELD_OUT = "already_held_out"
WAITING_RETRY = "waiting_retry"
CLAIMED_ELSEWHERE = "claimed_elsewhere"


@dataclass
class Claimed:
    taken: list[str] = field(default_factory=list)  # now this sender's, in the order asked
    resumed: set[str] = field(default_factory=set)  # of those, keys another sender had in flight
    left: dict[str, str] = field(default_factory=dict)  # key -> why it was not taken


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
        self._lock = threading.RLock()  # a claim's renewal runs on its own thread, on this connection
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")  # durable against a killed process; WAL keeps it consistent
        self._con.executescript(SCHEMA)
        if set(CLAIM_COLUMNS) - self._columns():
            with self._lock, self._con:
                self._con.execute("begin immediate")
                for name in [name for name in CLAIM_COLUMNS if name not in self._columns()]:
                    self._con.execute(f"alter table messages add column {name} {CLAIM_COLUMNS[name]}")

    def _columns(self) -> set[str]:
        return {row[1] for row in self._con.execute("pragma table_info(messages)")}

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence]) -> int:
        with self._lock, self._con:  # one short transaction
            self._con.execute("begin immediate")
            return self._con.executemany(sql, rows).rowcount

    def _select(self, sql: str, keys: Sequence[str], *args: object) -> list[tuple]:
        """Rows of `sql` (which ends in `key in ({marks})`) for `keys`, queried in chunks of SQLite's limit."""
        rows: list[tuple] = []
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            rows += self._con.execute(sql.format(marks=",".join("?" * len(chunk))), (*args, *chunk)).fetchall()
        return rows

    def plan(self, messages: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Record (key, campaign, customer_key, channel, send_window) as planned; known keys keep their state."""
        self._record_new(messages, "planned")

    def hold_out(self, messages: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Record (key, campaign, customer_key, channel, send_window) of a message a holdout stands in for: never
        sent, counted as touched by cooldown and the frequency cap; a known key keeps its state."""
        self._record_new(messages, "held_out")

    def _record_new(self, messages: Iterable[tuple[str, str, str, str, str]], status: str) -> None:
        now = time.time()
        self._write(
            "insert or ignore into messages (key, campaign, customer_key, channel, send_window, status, updated_at)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            ((*m, status, now) for m in messages),
        )

    def states(self, keys: Iterable[str]) -> dict[str, tuple[str, int, float]]:
        """key -> (status, attempts, next_attempt_at) for the keys the ledger knows."""
        sql = "select key, status, attempts, next_attempt_at from messages where key in ({marks})"
        return {key: (status, attempts, due) for key, status, attempts, due in self._select(sql, list(keys))}

    def _standing(self, keys: Sequence[str], owner: ClaimOwner, now: float) -> dict[str, tuple[str | None, str]]:
        """key -> (why it cannot be claimed now, or None; its status) for the keys the ledger knows."""
        sql = (
            "select key, status, next_attempt_at, claim_host, claim_pid, claim_until"
            " from messages where key in ({marks})"
        )
        standing = {}
        for key, status, due, host, pid, until in self._select(sql, keys):
            if status == "sent":
                why = ALREADY_SENT
            elif status == "rejected":
                why = ALREADY_REJECTED
            elif status == "held_out":  # in this window's holdout already: the comparison stays as it was drawn
                why = ALREADY_HELD_OUT
            elif status == "failed" and due > now:
                why = WAITING_RETRY
            elif status == "sending" and until > now:
                why = None if owner.may_take_over(host, pid) else CLAIMED_ELSEWHERE
            else:  # planned, failed and due, or an expired claim
                why = None
            standing[key] = (why, status)
        return standing

    def unavailable(self, keys: Iterable[str], owner: ClaimOwner) -> dict[str, str]:
        """key -> why `owner` could not claim it now (a read only: a later claim decides)."""
        standing = self._standing(list(keys), owner, time.time())
        return {key: why for key, (why, _) in standing.items() if why}

    def claim(self, keys: Sequence[str], owner: ClaimOwner, seconds: float) -> Claimed:
        """Compare-and-set: take each key that is planned, failed and due, or whose claim expired or was
        orphaned, for `seconds`; keys another sender holds, or that are settled, are left with the reason."""
        claimed = Claimed()
        with self._lock, self._con:
            self._con.execute("begin immediate")  # the states read below cannot change before the update
            now = time.time()
            standing = self._standing(keys, owner, now)
            for key in dict.fromkeys(keys):
                why, status = standing[key]  # plan() records every key first
                if why:
                    claimed.left[key] = why
                    continue
                claimed.taken.append(key)
                if status == "sending":
                    claimed.resumed.add(key)
            sql = (
                "update messages set status = 'sending', attempts = attempts + 1, claim_owner = ?, claim_host = ?,"
                " claim_pid = ?, claim_until = ?, updated_at = ? where key in ({marks})"
            )
            for start in range(0, len(claimed.taken), 900):
                chunk = claimed.taken[start : start + 900]
                marks = ",".join("?" * len(chunk))
                self._con.execute(
                    sql.format(marks=marks), (owner.token, owner.host, owner.pid, now + seconds, now, *chunk)
                )
        return claimed

    def renew(self, keys: Sequence[str], owner: ClaimOwner, seconds: float) -> int:
        """Extend `owner`'s claim on `keys` by `seconds` from now; how many it still held."""
        until = time.time() + seconds
        return self._write(
            "update messages set claim_until = ? where key = ? and status = 'sending' and claim_owner = ?",
            ((until, key, owner.token) for key in keys),
        )

    @contextmanager
    def holding(self, keys: Sequence[str], owner: ClaimOwner, seconds: float) -> Iterator[None]:
        """Renew the claim on `keys` every third of `seconds` while the block runs (a batch out at a channel)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(seconds / 3):
                try:
                    self.renew(keys, owner, seconds)
                except sqlite3.Error:
                    pass  # the next beat tries again; the claim's expiry is the bound

        beat = threading.Thread(target=renew, name="ledger-claim", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()

    def release(self, keys: Sequence[str], owner: ClaimOwner) -> None:
        """Let the next sender take over `owner`'s unrecorded claims on `keys` at once (they stay in flight)."""
        self._write(
            "update messages set claim_until = 0 where key = ? and status = 'sending' and claim_owner = ?",
            ((key, owner.token) for key in keys),
        )

    def record(self, outcomes: Sequence[Outcome], owner: ClaimOwner, backoff_seconds: float = 60.0) -> list[str]:
        """Outcomes after a send, for the keys `owner` still holds; returns the keys it no longer held (another
        sender took them over). A failed key waits retry_after, else backoff doubling per attempt (max 64x)."""
        with self._lock, self._con:
            self._con.execute("begin immediate")
            now = time.time()
            held = {
                key
                for (key,) in self._select(
                    "select key from messages where status = 'sending' and claim_owner = ? and key in ({marks})",
                    [o.key for o in outcomes],
                    owner.token,
                )
            }
            self._con.executemany(
                "update messages set status = ?, reason = ?, updated_at = ?, claim_until = 0, next_attempt_at ="
                " case when ? = 'failed' then ? + coalesce(?, ? * (1 << min(max(attempts - 1, 0), 6))) else 0 end"
                " where key = ?",
                (
                    (o.status, o.reason, now, o.status, now, o.retry_after, backoff_seconds, o.key)
                    for o in outcomes
                    if o.key in held
                ),
            )
        return [o.key for o in outcomes if o.key not in held]

    def touched_per_customer(self, since_window: str, before_window: str, channels: Sequence[str]) -> Counter:
        """Messages on `channels` that reached (or may have reached) each customer in [since, before), and those a
        holdout stood in for (the frequency cap)."""
        marks = ",".join("?" * len(channels))
        counts: Counter = Counter()
        for customer, n in self._con.execute(
            "select customer_key, count(*) from messages where send_window >= ? and send_window < ?"
            f" and channel in ({marks}) and status in {TOUCHED} group by customer_key",
            (since_window, before_window, *channels),
        ):
            counts[customer] = n
        return counts

    def last_touched(self, campaign: str, before_window: str) -> dict[str, str]:
        """customer_key -> the latest earlier send window in which `campaign` reached them or held them out
        (for cooldown)."""
        return dict(
            self._con.execute(
                "select customer_key, max(send_window) from messages where campaign = ? and send_window < ?"
                f" and status in {TOUCHED} group by customer_key",
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


def forget_customers(path: Path, customer_keys: Iterable[str], alias: Callable[[str], str]) -> list[str]:
    """Erasure: the keys of every message to these customers, whose customer_key becomes `alias(key)` (a salted
    hash). The keys and their states stay, so a message already sent is never sent again; nothing in the ledger
    names the person any more. Freed pages are zeroed and the file vacuumed, so the old values leave the file too."""
    keys = sorted(set(customer_keys))
    if not keys or not path.exists():
        return []
    with Ledger(path) as ledger, ledger._lock:
        con = ledger._con
        con.execute("pragma secure_delete = on")
        message_keys = [k for (k,) in ledger._select("select key from messages where customer_key in ({marks})", keys)]
        with con:
            con.execute("begin immediate")
            con.executemany(
                "update messages set customer_key = ?, reason = null where customer_key = ?",
                [(alias(k), k) for k in keys],
            )
        con.execute("vacuum")
        con.execute("pragma wal_checkpoint(truncate)")
    return message_keys
