"""The embedded default channel: messages written where a real channel would have sent them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from hourglass import settings
from hourglass.ledger import Outcome


class KeyedJsonl:
    """An append-only JSON-lines file that holds each message key once, whatever crashes and retries happen.

    A line cut short by a killed process is ignored on the next open, so its message counts as not written.
    """

    def __init__(self, path: Path):
        self.path = path
        self.keys: set[str] = set()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as fh:
                data = fh.read()
            complete = data[: data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                with path.open("r+b") as fh:
                    fh.truncate(len(complete))
            for line in complete.splitlines():
                self.keys.add(json.loads(line)["key"])

    def append(self, records: list[dict[str, Any]]) -> int:
        fresh = [r for r in records if r["key"] not in self.keys]
        if fresh:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in fresh))
                fh.flush()
                os.fsync(fh.fileno())
            self.keys.update(r["key"] for r in fresh)
        return len(fresh)

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]


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
