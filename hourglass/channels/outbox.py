"""The embedded default channel: messages written where a real channel would have sent them."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import dagster as dg

from hourglass import settings
from hourglass.ledger import Outcome


class KeyedJsonl:
    """An append-only JSON-lines file that holds each message key once, whatever crashes and retries happen.

    Writers take an exclusive lock on the file, read the lines other processes added since, and append only
    keys nobody wrote, so two processes appending to one file never write a key twice. A line cut short by a
    killed writer is cut off by the next writer, so its message counts as not written.
    """

    def __init__(self, path: Path):
        self.path = path
        self.keys: set[str] = set()
        self._read_to = 0  # the keys of the file up to this offset are in self.keys
        path.parent.mkdir(parents=True, exist_ok=True)

    def _catch_up(self, fh: BinaryIO) -> None:
        """Under the exclusive lock: take in the lines written since, and drop a line a killed writer cut short."""
        if fh.seek(0, os.SEEK_END) < self._read_to:  # the file shrank (rewritten meanwhile): read it anew
            self.keys, self._read_to = set(), 0
        fh.seek(self._read_to)
        data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            fh.truncate(self._read_to + len(complete))
        for line in complete.splitlines():
            self.keys.add(json.loads(line)["key"])
        self._read_to += len(complete)

    def append(self, records: list[dict[str, Any]]) -> int:
        with self.path.open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes, also when the process is killed
            self._catch_up(fh)
            fresh = {r["key"]: r for r in records if r["key"] not in self.keys}
            if fresh:
                data = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in fresh.values()).encode()
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                self.keys.update(fresh)
                self._read_to += len(data)  # the file was read to its end under this lock
        return len(fresh)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)  # no line half written by another process
            data = fh.read()
        return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


class OutboxSender:
    idempotent = True

    def __init__(self, path: Path):
        self.file = KeyedJsonl(path)

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        self.file.append(messages)
        return [Outcome(m["key"], "sent") for m in messages]

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class OutboxResource(dg.ConfigurableResource):
    """Writes messages as JSON lines under HOURGLASS_HOME/outbox/<channel>/<campaign>/<send window>.jsonl.

    Each message key appears once per file, so a re-run or a resumed crash adds only what is missing.
    """

    root: str = ""  # empty: HOURGLASS_HOME/outbox

    def folder(self) -> Path:
        return Path(self.root) if self.root else settings.outbox_dir()

    def path(self, channel: str, campaign: str, send_window: str) -> Path:
        return self.folder() / channel / campaign / f"{send_window}.jsonl"

    def sender(self, channel: str, campaign: str, send_window: str) -> OutboxSender:
        return OutboxSender(self.path(channel, campaign, send_window))
