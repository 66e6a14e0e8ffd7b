"""Audience rows -> personalised messages, rendered from the Jinja templates in templates/."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import jinja2

from hourglass import settings

FALLBACK_LANGUAGES = ("en", "nl")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,  # a template naming a column the audience lacks fails loudly
        keep_trailing_newline=False,
    )


def message_key(campaign: str, customer_key: str, channel: str, send_window: str) -> str:
    """The same message always gets the same key, so a channel or ledger can refuse a second send."""
    return hashlib.sha256(f"{campaign}|{customer_key}|{channel}|{send_window}".encode()).hexdigest()[:32]


def _template(template: str, channel: str, language: str) -> jinja2.Template:
    env = _environment()
    names = [f"{template}/{channel}.{lang}.txt" for lang in (language, *FALLBACK_LANGUAGES)]
    return env.select_template(names)


def tracked_link(campaign: str, channel: str) -> str:
    site = os.environ.get("HOURGLASS_SITE_URL", "https://www.example-theater.nl").rstrip("/")
    return f"{site}/agenda?" + urlencode({"utm_source": "hourglass", "utm_medium": channel, "utm_campaign": campaign})


def render(template: str, channel: str, row: Mapping[str, Any], campaign: str) -> tuple[str, str]:
    """Subject and body of one message; the template's `subject` and `body` blocks."""
    tmpl = _template(template, channel, str(row.get("language") or "nl"))
    context = tmpl.new_context({**row, "campaign": campaign, "link": tracked_link(campaign, channel)})
    subject = "".join(tmpl.blocks["subject"](context)).strip()
    body = "".join(tmpl.blocks["body"](context)).strip() + "\n"
    return subject, body


def build_messages(
    campaign: str, template: str, channel: str, send_window: str, rows: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for row in rows:
        subject, body = render(template, channel, row, campaign)
        yield {
            "key": message_key(campaign, row["customer_key"], channel, send_window),
            "campaign": campaign,
            "channel": channel,
            "send_window": send_window,
            "customer_key": row["customer_key"],
            "customer_id": row.get("customer_id"),
            "to": row["email"],
            "language": row.get("language"),
            "subject": subject,
            "body": body,
        }
