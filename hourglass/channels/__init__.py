"""Where messages go. Each channel takes a batch of rendered messages and answers with one Outcome per key.

A channel says whether it deduplicates by message key (`idempotent`): resending a key that may already have
gone out is then harmless, so a crashed send resumes by resending its in-flight batch. Plain SMTP cannot,
so for it the in-flight batch is reported as possibly duplicated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from hourglass import phone
from hourglass.ledger import Outcome
from hourglass.sources import EMAIL_PATTERN

# Channels that put a message in front of a person: consent per channel, the frequency cap and quiet hours apply.
MESSAGE_CHANNELS = ("email", "sms")
# Channels that hand membership to another system: every eligible member, not a fallback between them.
AUDIENCE_CHANNELS = ("google_ads", "meta_ads", "webhook")
KNOWN_CHANNELS = MESSAGE_CHANNELS + AUDIENCE_CHANNELS

_EMAIL = re.compile(EMAIL_PATTERN)


class ChannelUnavailable(Exception):
    """The channel cannot send at all (no connection, TLS failed, login refused): it stops for this run.

    `outcomes` are those of the messages that were tried before it happened; the rest were not tried, so they
    stay due for the next run. The message names the server and the setting to check, never a secret.
    """

    def __init__(self, reason: str, outcomes: Sequence[Outcome] = ()):
        super().__init__(reason)
        self.outcomes = list(outcomes)


class Sender(Protocol):
    idempotent: bool

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


def valid_email(value: Any) -> bool:
    """An address of the contract's `email` type (hourglass.sources.EMAIL_PATTERN)."""
    return isinstance(value, str) and _EMAIL.fullmatch(value) is not None


def valid_phone(value: Any) -> bool:
    """A number in the normal form staging writes (hourglass.phone): anything else was not checked by the rule."""
    return phone.is_e164(value)
