"""Ad audiences: Google Customer Match and Meta custom-audience upload files, hashed, never raw.

Normalisation follows each platform's published rules before SHA-256 (hex, lower case):
- Google Customer Match: e-mail trimmed and lower-cased, dots removed from the name part of gmail.com and
  googlemail.com addresses; phone in E.164 with the leading '+'.
- Meta: e-mail trimmed and lower-cased; phone as digits only, with country code, without '+' or leading zeros.
The phone is E.164 by the one rule staging uses (hourglass.phone), so a number matches its staged form.
An empty or missing value stays an empty cell: hashing it would match everyone who left the field empty.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import Any

import dagster as dg

from hourglass import phone, settings
from hourglass.channels.outbox import KeyedJsonl
from hourglass.ledger import Outcome

GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
PLATFORMS = {"google_ads": ("Email", "Phone"), "meta_ads": ("email", "phone")}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value else ""


def normalise_email(value: str | None, platform: str) -> str:
    email = (value or "").strip().lower()
    if platform == "google_ads" and "@" in email:
        name, domain = email.rsplit("@", 1)
        if domain in GMAIL_DOMAINS:
            email = f"{name.replace('.', '')}@{domain}"
    return email


def normalise_phone(value: str | None, platform: str, country: str | None = None) -> str:
    """`value` in E.164 by the phone rule; Google takes it with '+', Meta as digits. `country` places a number
    written nationally. A staged number is in E.164 already: only another one costs a DuckDB query."""
    if not (value or "").strip():
        return ""
    e164 = value if phone.is_e164(value) else phone.normalise([value], [country])[0]
    if not e164:
        return ""
    return e164 if platform == "google_ads" else e164.removeprefix("+")


def hashed_identifiers(row: dict[str, Any], platform: str) -> tuple[str, str]:
    return (
        sha256(normalise_email(row.get("email"), platform)),
        sha256(normalise_phone(row.get("phone"), platform, row.get("country"))),
    )


class AdAudienceSender:
    """Stages hashed rows per key (so a resumed send adds only what is missing), then writes the upload file."""

    idempotent = True

    def __init__(self, platform: str, target: Path):
        self.platform = platform
        self.target = target
        self.staged = KeyedJsonl(target.with_name(f".{target.stem}.staged.jsonl"))

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        self.staged.append([{"key": m["key"], "hashes": list(m["payload"]["hashes"])} for m in messages])
        return [Outcome(m["key"], "sent") for m in messages]

    def finish(self) -> None:
        tmp = self.target.with_name(f".{self.target.name}.{os.getpid()}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(PLATFORMS[self.platform])
            for record in self.staged.records():
                writer.writerow(record["hashes"])
        os.replace(tmp, self.target)

    def close(self) -> None:
        pass


class AdAudienceResource(dg.ConfigurableResource):
    """Where upload files go: HOURGLASS_ADS_DIR, default HOURGLASS_HOME/ads/<platform>/<campaign>/<window>.csv."""

    root: str = ""

    def path(self, platform: str, campaign: str, send_window: str) -> Path:
        folder = Path(self.root) if self.root else settings.home() / "ads"
        target = folder / platform / campaign / f"{send_window}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def sender_for(self, platform: str, campaign: str, send_window: str) -> AdAudienceSender:
        return AdAudienceSender(platform, self.path(platform, campaign, send_window))
