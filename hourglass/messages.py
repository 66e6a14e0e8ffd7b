"""Audience rows -> personalised messages, rendered from the Jinja templates in templates/."""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlencode

import jinja2
import jinja2.ext
import jinja2.lexer
from markupsafe import Markup

from hourglass import settings

FALLBACK_LANGUAGES = ("en", "nl")


class _TemplateTextAsHtml(jinja2.ext.Extension):
    """A template's own text is plain text too: escaped for HTML once, when the template is compiled."""

    def filter_stream(self, stream: jinja2.lexer.TokenStream):
        for token in stream:
            if token.type == jinja2.lexer.TOKEN_DATA:
                token = jinja2.lexer.Token(token.lineno, token.type, html.escape(token.value, quote=True))
            yield token


@lru_cache(maxsize=2)
def _environment(for_html: bool = False) -> jinja2.Environment:
    """The templates as plain text, or for the HTML part: every value escaped (quotes too), so a customer's
    value is always text, never markup or a link; only the template's `link` is an anchor."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,  # a template naming a column the audience lacks fails loudly
        keep_trailing_newline=False,
        autoescape=for_html,
        extensions=[_TemplateTextAsHtml] if for_html else [],
    )


def message_key(campaign: str, customer_key: str, channel: str, send_window: str) -> str:
    """The same message always gets the same key, so a channel or ledger can refuse a second send."""
    return hashlib.sha256(f"{campaign}|{customer_key}|{channel}|{send_window}".encode()).hexdigest()[:32]


@lru_cache(maxsize=1024)
def _template(template: str, channel: str, language: str, for_html: bool = False) -> jinja2.Template:
    env = _environment(for_html)
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


def _paragraphs(escaped: str) -> str:
    """The HTML document around an escaped body: blank lines part paragraphs, single newlines break lines."""
    paragraphs = "</p>\n<p>".join(block.replace("\n", "<br>\n") for block in escaped.strip().split("\n\n"))
    return "<!doctype html>\n<html><body>\n<p>" + paragraphs + "</p>\n</body></html>\n"


def _render(template: str, channel: str, row: Mapping[str, Any], campaign: str, link: str, for_html: bool = False):
    """The template's `subject` (optional for SMS; empty without) and `body` blocks."""
    tmpl = _template(template, channel, str(row.get("language") or "nl"), for_html)
    context = tmpl.new_context({**row, "campaign": campaign, "link": link})
    subject = "".join(tmpl.blocks["subject"](context)).strip() if "subject" in tmpl.blocks else ""
    return subject, "".join(tmpl.blocks["body"](context)).strip() + "\n"


def render(template: str, channel: str, row: Mapping[str, Any], campaign: str) -> tuple[str, str]:
    """Subject and body of one message, as plain text."""
    return _render(template, channel, row, campaign, tracked_link(campaign, channel, row))


def render_email(template: str, row: Mapping[str, Any], campaign: str) -> dict[str, str]:
    """Subject, plain text and HTML from one rendering for HTML: every value and the template's own text escaped,
    the template's link the only anchor, so a URL or a quote inside a name stays text. The plain text is that
    rendering with the anchor turned back into the link and everything unescaped: exactly the template rendered
    as text (nothing else in it can be markup, every other '<' being escaped)."""
    link = tracked_link(campaign, "email", row)
    anchor = Markup('<a href="{0}">{0}</a>').format(link)  # format escapes the link, & and quotes included
    subject, body = _render(template, "email", row, campaign, anchor, for_html=True)
    return {
        "subject": link.join(map(html.unescape, subject.split(anchor))),
        "body": link.join(map(html.unescape, body.split(anchor))),
        "html": _paragraphs(body),
    }
