"""Error text made safe for the ledger, receipts, logs and alerts: no URL path, query or login, no secret.

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
    """`text` without URLs' paths, queries and logins, and without any of `secrets` (or, for a URL, its parts)."""
    text = URL.sub(_keep_endpoint, text)
    for value in sorted({v for s in secrets if s for v in _values(str(s))}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return PATH_AFTER_URL.sub(rf"\1/{REDACTED}", text)


def describe(exc: BaseException, *secrets: str, limit: int | None = 300) -> str:
    """An exception as `Type: message`, redacted, at most `limit` characters (cut after redacting, not before)."""
    return redact(f"{type(exc).__name__}: {exc}", *secrets)[:limit]
