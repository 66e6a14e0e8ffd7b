"""The embedded default channel: messages written where a real channel would have sent them."""

import json
import os
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from hourglass import settings


class OutboxResource(dg.ConfigurableResource):
    """Writes each campaign's messages for one send window as a JSON-lines file under HOURGLASS_HOME/outbox.

    A send window's file is replaced whole, so running a window again rewrites it instead of adding to it.
    """

    root: str = ""  # empty: HOURGLASS_HOME/outbox

    def folder(self) -> Path:
        return Path(self.root) if self.root else settings.outbox_dir()

    def deliver(self, channel: str, campaign: str, send_window: str, messages: Iterable[dict]) -> tuple[Path, int]:
        target = self.folder() / channel / campaign / f"{send_window}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        count = 0
        with tmp.open("w", encoding="utf-8") as fh:
            for message in messages:
                fh.write(json.dumps(message, ensure_ascii=False) + "\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        return target, count
