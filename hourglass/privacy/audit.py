"""The append-only audit log of erasures, exports and retention runs: HOURGLASS_HOME/privacy/audit.jsonl.

One JSON line per action: what was done, when, who asked (the operating system user or the Dagster run), the
reason given, and counts of what was found and removed. No personal data: no identifier, no value, no hash (a hash
of an e-mail address could be tested against a list of addresses by whoever holds the salt).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hourglass import settings


def path() -> Path:
    return settings.home() / "privacy" / "audit.jsonl"


def requester() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def record(action: str, *, asked_by: str | None = None, reason: str | None = None, **counts: Any) -> dict[str, Any]:
    """Append one entry (fsynced before returning) and return it."""
    entry = {
        "id": uuid.uuid4().hex,
        "action": action,  # forget, export_person, retention
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "asked_by": asked_by or requester(),
        "reason": reason,
        **counts,
    }
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def entries() -> list[dict[str, Any]]:
    if not path().exists():
        return []
    return [json.loads(line) for line in path().read_text(encoding="utf-8").splitlines() if line.strip()]
