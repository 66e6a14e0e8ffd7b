"""Audience rows -> personalised messages, rendered from the Jinja templates in templates/."""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlencode

import jinja2

from hourglass import settings

FALLBACK_LANGUAGES = ("en", "nl")
LINK = re.compile(r"https?://[^\s<>&]+(?:&amp;[^\s<>&]+)*")


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


@lru_cache(maxsize=1024)
def _template(template: str, channel: str, language: str) -> jinja2.Template:
    env = _environment()
    names = [f"{template}/{channel}.{lang}.txt" for lang in (language, *FALLBACK_LANGUAGES)]
    return env.select_template(names)


def visitor_id(row: Mapping[str, Any]) -> str:
    """The opaque id a tracked link carries: the person's web visitor id, else one derived from the customer key.

    It ties a click to a web visit (GA's user-scoped dimension) without any personal data in the URL.
    """
    known = row.get("visitor_id")
    return str(known) if known else "hg-" + hashlib.sha256(str(row["customer_key"]).encode()).hexdigest()[:20]


@lru_cache(maxsize=256)
def _link_base(site: str, campaign: str, channel: str) -> str:
    return f"{site}/agenda?" + urlencode({"utm_source": "hourglass", "utm_medium": channel, "utm_campaign": campaign})


def tracked_link(campaign: str, channel: str, row: Mapping[str, Any]) -> str:
    site = os.environ.get("HOURGLASS_SITE_URL", "https://www.example-theater.nl").rstrip("/")
    base = _link_base(site, campaign, channel)  # the same for every message of a campaign: built once
    return f"{base}&hg_vid={quote_plus(visitor_id(row))}"


def _html(body: str) -> str:
    """The HTML part from the plain text: paragraphs, line breaks and clickable links, everything escaped."""
    text = LINK.sub(r'<a href="\g<0>">\g<0></a>', html.escape(body.strip(), quote=False))
    paragraphs = "</p>\n<p>".join(block.replace("\n", "<br>\n") for block in text.split("\n\n"))
    return "<!doctype html>\n<html><body>\n<p>" + paragraphs + "</p>\n</body></html>\n"


def render(template: str, channel: str, row: Mapping[str, Any], campaign: str) -> tuple[str, str]:
    """Subject and body of one message; the template's `subject` (optional for SMS) and `body` blocks."""
    tmpl = _template(template, channel, str(row.get("language") or "nl"))
    context = tmpl.new_context({**row, "campaign": campaign, "link": tracked_link(campaign, channel, row)})
    subject = "".join(tmpl.blocks["subject"](context)).strip() if "subject" in tmpl.blocks else ""
    body = "".join(tmpl.blocks["body"](context)).strip() + "\n"
    return subject, body


def render_email(template: str, row: Mapping[str, Any], campaign: str) -> dict[str, str]:
    subject, body = render(template, "email", row, campaign)
    return {"subject": subject, "body": body, "html": _html(body)}
