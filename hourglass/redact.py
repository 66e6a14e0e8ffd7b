"""Error text made safe for the ledger, receipts, logs and alerts: no URL path, query or login, no secret, no
e-mail address or phone number (a mail server's refusal quotes the recipient; AVG/GDPR, docs/privacy.md).

An endpoint's URL is often a secret itself (a chat tool's incoming webhook is a secret path, some gateways take
a token in the query), and HTTP client errors quote the URL they failed on: whole (`... for url: http://...`)
or as its path only (`Max retries exceeded with url: /hooks/...`). A URL keeps its scheme, host and port, so
an error still says which endpoint failed.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

REDACTED = "[redacted]"
URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")
PATH_AFTER_URL = re.compile(r"(\burl: )/\S*")  # requests names the path alone: "with url: /path?query"
# A person's contact details inside an error: an e-mail address; a phone number written internationally (+, then
# 8 to 15 digits) or as a Dutch national number (0 and 9 digits), with the separators people type.
_NOT_IN_ADDRESS = r"\s@<>()\[\]'\",;:"
EMAIL = re.compile(rf"[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+\.[^{_NOT_IN_ADDRESS}]+")
PHONE = re.compile(r"(?<![\w+])(?:\+\d(?:[ ()./-]{0,2}\d){7,14}|0\d(?:[ ()./-]{0,2}\d){8})(?!\w)")
# What an HTTP client quotes of a path (requests' requote_uri): a secret is also matched in that spelling.
URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def _keep_endpoint(match: re.Match) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # IPv6
        endpoint = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
    except ValueError:  # not parseable as a URL: say nothing of it
        return REDACTED
    if "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"{endpoint}/{REDACTED}"
    return url


def _values(secret: str) -> set[str]:
    """A secret and, for a URL, the parts of it an error may quote on their own."""
    values = {secret}
    if "://" in secret:
        try:
            parts = urlsplit(secret)
        except ValueError:
            parts = None
        if parts is not None:
            query = f"?{parts.query}" if parts.query else ""
            userinfo = parts.netloc.rpartition("@")[0]
            values |= {parts.path + query, parts.path, parts.query, userinfo, parts.password or ""}
    values |= {quote(v, safe=URI_SAFE) for v in values}
    return {v for v in values if v and v != "/"}


def redact(text: str, *secrets: str) -> str:
    """`text` without URLs' paths, queries and logins, e-mail addresses and phone numbers, and without any of
    `secrets` (or, for a URL, its parts)."""
    text = URL.sub(_keep_endpoint, text)
    text = PHONE.sub(REDACTED, EMAIL.sub(REDACTED, text))
    for value in sorted({v for s in secrets if s for v in _values(str(s))}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return PATH_AFTER_URL.sub(rf"\1/{REDACTED}", text)


def describe(exc: BaseException, *secrets: str, limit: int | None = 300) -> str:
    """An exception as `Type: message`, redacted, at most `limit` characters (cut after redacting, not before)."""
    return redact(f"{type(exc).__name__}: {exc}", *secrets)[:limit]
