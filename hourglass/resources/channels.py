"""Channel resources from environment variables (docs/configuration.md); secrets through Dagster's EnvVar."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dagster as dg

from hourglass import settings
from hourglass.channels.ads import AdAudienceResource
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _flag(name: str) -> bool:
    return _env(name).strip().lower() in ("1", "true", "yes", "on")


def dagster_secret(name: str) -> Any:
    """An EnvVar when the variable is set (Dagster resolves it at run time and never shows it), else empty."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def plain_secret(name: str) -> str:
    return os.environ.get(name, "")


# A setting that makes another one required: a signed webhook without its key, a login without a password.
REQUIRED_WITH = {
    "HOURGLASS_WEBHOOK_URL": ["HOURGLASS_WEBHOOK_SECRET"],
    "HOURGLASS_SMTP_USERNAME": ["HOURGLASS_SMTP_PASSWORD", "HOURGLASS_SMTP_HOST"],
    "HOURGLASS_SMTP_TLS": ["HOURGLASS_SMTP_HOST"],
    "HOURGLASS_SMTP_CA_FILE": ["HOURGLASS_SMTP_HOST"],
    "HOURGLASS_SMS_TOKEN": ["HOURGLASS_SMS_URL"],
}
# Settings that no longer exist, and what took their place: ignoring one would quietly change how we send.
REPLACED = {"HOURGLASS_SMTP_STARTTLS": "HOURGLASS_SMTP_TLS (starttls, the default; implicit; or off)"}


def check_settings() -> None:
    """Fail at start, naming the variable, rather than at the first send."""
    missing = [
        f"{needed} (needed because {given} is set)"
        for given, needs in REQUIRED_WITH.items()
        if os.environ.get(given)
        for needed in needs
        if not os.environ.get(needed)
    ]
    if missing:
        raise ValueError("missing setting: " + "; ".join(missing) + ". See docs/configuration.md.")
    replaced = [f"{old} is replaced by {new}" for old, new in REPLACED.items() if old in os.environ]
    if replaced:
        raise ValueError("; ".join(replaced) + ". See docs/configuration.md.")


def channel_resources(secret: Callable[[str], Any] = dagster_secret) -> dict[str, dg.ConfigurableResource]:
    check_settings()
    tls = _env("HOURGLASS_SMTP_TLS", "starttls").strip().lower()
    smtp = SmtpResource(
        host=_env("HOURGLASS_SMTP_HOST"),
        port=settings.int_setting("HOURGLASS_SMTP_PORT", 465 if tls == "implicit" else 25),
        username=_env("HOURGLASS_SMTP_USERNAME"),
        password=secret("HOURGLASS_SMTP_PASSWORD"),
        tls=tls,
        ca_file=_env("HOURGLASS_SMTP_CA_FILE"),
        allow_plaintext_login=_flag("HOURGLASS_SMTP_ALLOW_PLAINTEXT_LOGIN"),
        sender=_env("HOURGLASS_SMTP_FROM", "Het Huis <nieuws@example-theater.nl>"),
        concurrency=settings.int_setting("HOURGLASS_SMTP_CONCURRENCY", 4),
    )
    if smtp.configured() and (problem := smtp.problem()):
        raise ValueError(f"{problem}. See docs/configuration.md.")
    return {
        "outbox": OutboxResource(root=_env("HOURGLASS_OUTBOX_DIR")),
        "smtp": smtp,
        "sms": SmsResource(
            url=secret("HOURGLASS_SMS_URL"),  # a URL may hold a secret path or token: kept out of Dagster too
            token=secret("HOURGLASS_SMS_TOKEN"),
            rate_per_second=settings.float_setting("HOURGLASS_SMS_RATE_PER_SECOND", 0.0),
            concurrency=settings.int_setting("HOURGLASS_SMS_CONCURRENCY", 4),
        ),
        "webhook": WebhookResource(
            url=secret("HOURGLASS_WEBHOOK_URL"),
            secret=secret("HOURGLASS_WEBHOOK_SECRET"),
            rate_per_second=settings.float_setting("HOURGLASS_WEBHOOK_RATE_PER_SECOND", 0.0),
            concurrency=settings.int_setting("HOURGLASS_WEBHOOK_CONCURRENCY", 4),
        ),
        "ad_audiences": AdAudienceResource(root=_env("HOURGLASS_ADS_DIR")),
    }
