"""Campaigns as analysts declare them: an audience model under models/audiences/ and its `meta.campaign`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KNOWN_CHANNELS = ("email",)


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
        return cls(
            name=node["name"],
            channels=channels,
            template=str(meta.get("template", node["name"])),
            purpose=str(meta.get("purpose", "email_marketing")),
            holdout_share=share,
            cooldown_days=int(meta.get("cooldown_days", 0)),
            priority=int(meta.get("priority", 100)),
            description=node.get("description") or "",
        )


def audience_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model that lives under models/audiences/, in name order."""
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/audiences/")
    ]
    return sorted(nodes, key=lambda n: n["name"])
