"""Where the channels without an endpoint leave messages, as the channel resources read it (resources/channels.py)."""

from __future__ import annotations

import os
from pathlib import Path

from hourglass import settings


def outbox_dir() -> Path:
    """HOURGLASS_OUTBOX_DIR, default HOURGLASS_HOME/outbox."""
    return Path(os.environ.get("HOURGLASS_OUTBOX_DIR") or settings.outbox_dir())


def ads_dir() -> Path:
    """HOURGLASS_ADS_DIR, default HOURGLASS_HOME/ads."""
    return Path(os.environ.get("HOURGLASS_ADS_DIR") or settings.home() / "ads")
