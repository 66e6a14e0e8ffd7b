"""Campaigns as analysts declare them: an audience model under models/audiences/ and its `meta.campaign`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from hourglass.channels import AUDIENCE_CHANNELS, KNOWN_CHANNELS, MESSAGE_CHANNELS

# What no webhook payload carries: the receiving system is told who (the keys), never how to reach them.
CONTACT_COLUMNS = {"email", "phone", "first_name", "last_name", "address", "postcode"}
QUIET_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class Campaign:
    name: str  # the audience model's name
    channels: tuple[str, ...]
    template: str
    purpose: str
    holdout_share: float
    cooldown_days: int
    priority: int
    description: str
    quiet_hours: str | None = None  # "21:00-08:00" in the send time zone: no e-mail or SMS then
    guard_max_change: float = 0.5  # the audience may grow or shrink this share against the last run
    guard_min_rows: int = 20  # changes smaller than this many people never trip the guard
    webhook_fields: tuple[str, ...] = ()  # audience columns the webhook payload carries besides the profile

    @property
    def message_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.channels if c in MESSAGE_CHANNELS)

    @property
    def audience_channels(self) -> tuple[str, ...]:
        return tuple(c for c in self.channels if c in AUDIENCE_CHANNELS)

    def is_quiet(self, moment: datetime) -> bool:
        if not self.quiet_hours:
            return False
        start_h, start_m, end_h, end_m = map(int, QUIET_HOURS.match(self.quiet_hours).groups())
        start, end, now = time(start_h, start_m), time(end_h, end_m), moment.time()
        return start <= now < end if start <= end else (now >= start or now < end)

    @classmethod
    def from_manifest_node(cls, node: dict[str, Any]) -> Campaign:
        meta = (node.get("config", {}).get("meta") or node.get("meta") or {}).get("campaign") or {}
        where = f"{node['original_file_path']} (meta.campaign)"
        channels = tuple(meta.get("channels") or ("email",))
        unknown = [c for c in channels if c not in KNOWN_CHANNELS]
        if unknown:
            raise ValueError(f"{where}: unknown channel(s) {unknown}; known: {list(KNOWN_CHANNELS)}")
        share = float(meta.get("holdout_share", 0.0))
        if not 0.0 <= share < 1.0:
            raise ValueError(f"{where}: holdout_share must be in [0, 1), got {share}")
        quiet = meta.get("quiet_hours")
        if quiet is not None and not QUIET_HOURS.match(str(quiet)):
            raise ValueError(f"{where}: quiet_hours must look like '21:00-08:00', got {quiet!r}")
        webhook_fields = tuple(meta.get("webhook_fields") or ())
        contact = sorted(set(webhook_fields) & CONTACT_COLUMNS)
        if contact:
            raise ValueError(f"{where}: webhook_fields may not carry contact details, got {contact}")
        guard = float(meta.get("guard_max_change", 0.5))
        if guard <= 0:
            raise ValueError(f"{where}: guard_max_change must be above 0, got {guard}")
        return cls(
            name=node["name"],
            channels=channels,
            template=str(meta.get("template", node["name"])),
            # the consent purpose; the channel says where ("email_marketing" reads as "marketing")
            purpose=str(meta.get("purpose", "marketing")).removeprefix("email_"),
            holdout_share=share,
            cooldown_days=int(meta.get("cooldown_days", 0)),
            priority=int(meta.get("priority", 100)),
            description=node.get("description") or "",
            quiet_hours=str(quiet) if quiet is not None else None,
            guard_max_change=guard,
            guard_min_rows=int(meta.get("guard_min_rows", 20)),
            webhook_fields=webhook_fields,
        )


def audience_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model that lives under models/audiences/, in name order."""
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/audiences/")
    ]
    return sorted(nodes, key=lambda n: n["name"])
