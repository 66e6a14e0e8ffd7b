"""JSON over HTTP: the SMS API and the webhook / CRM write-back.

Every request carries the message key as `Idempotency-Key`, so a resent request after a crash or a retry is
recognised by the receiver. Webhook requests are signed the way Stripe signs its webhooks: HMAC-SHA256 over
`<unix seconds>.<Idempotency-Key>.<body bytes>`, sent as `X-Hourglass-Signature: t=<seconds>,v1=<hex>`. The
timestamp lets a receiver refuse a request captured and replayed later; covering the key stops a captured
body from being sent again under another key. Each attempt is signed afresh when it is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import dagster as dg
import requests

from hourglass.ledger import Outcome
from hourglass.redact import describe, redact

SIGNATURE_HEADER = "X-Hourglass-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # a receiver refuses a timestamp further than this from its own clock
# 409: the receiver saw this exact signed request already (a resend within the same second): retry, signed anew.
RETRYABLE = {408, 409, 425, 429}
HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


class SignatureError(ValueError):
    """A request whose signature does not hold; `reason` is malformed, mismatch or stale."""

    def __init__(self, reason: str):
        super().__init__(f"webhook signature {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Signature:
    timestamp: int
    digest: str  # the v1 value that matched: unique per timestamp, key and body, so a receiver can spot replays


def signed_content(timestamp: int, key: str, body: bytes) -> bytes:
    """Exactly what the HMAC covers: `<timestamp>.<Idempotency-Key>.` followed by the body bytes."""
    return f"{timestamp}.{key}.".encode() + body


def _digest(secret: str, timestamp: int, key: str, body: bytes) -> str:
    return hmac.new(secret.encode(), signed_content(timestamp, key, body), hashlib.sha256).hexdigest()


def sign(secret: str, key: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Hourglass-Signature` value for one request: `t=<unix seconds>,v1=<hex HMAC-SHA256>`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, key, body)}"


def verify(
    secret: str,
    header: str,
    key: str,
    body: bytes,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Signature:
    """Check a signature header as a receiver does; raises SignatureError when it does not hold.

    Several `v1=` values may be given (a secret being rotated): one matching is enough. The digests are
    compared in constant time; the timestamp is checked only once a digest matched.
    """
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for name, _, value in fields if name == "t"]
    digests = [value for name, _, value in fields if name == "v1"]
    if len(stamps) != 1 or not UNIX_SECONDS.match(stamps[0]) or not digests or not all(map(HEX_DIGEST.match, digests)):
        raise SignatureError("malformed")
    timestamp = int(stamps[0])
    expected = _digest(secret, timestamp, key, body)
    if not any([hmac.compare_digest(expected, d) for d in digests]):  # a list: compare every one, in constant time
        raise SignatureError("mismatch")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("stale")
    return Signature(timestamp, expected)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class RateLimit:
    """At most `per_second` starts per second across threads, spaced evenly (0: unlimited)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class HttpSender:
    idempotent = True

    def __init__(self, url: str, token: str, secret: str, concurrency: int, rate_per_second: float, timeout: float):
        self.url = url
        self.token = token
        self.secret = secret
        self._secrets = (url, token, secret)  # what a reason kept in the ledger and receipts must not hold
        self.timeout = timeout
        self.rate = RateLimit(rate_per_second)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="http")

    def _session(self) -> requests.Session:
        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
        return self._local.session

    def request(self, message: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one POST, signed now: build it right before it goes out."""
        body = json.dumps(message["payload"], ensure_ascii=False, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message["key"]}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, message["key"], body)
        return body, headers

    def _post(self, message: dict[str, Any]) -> Outcome:
        self.rate.wait()  # before signing, so the timestamp is the moment of sending
        body, headers = self.request(message)
        try:
            response = self._session().post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return Outcome(message["key"], "failed", describe(exc, *self._secrets))
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(message["key"], "sent")
        reason = redact(f"HTTP {code}: {response.text[:200]}", *self._secrets)
        if code in RETRYABLE or code >= 500:
            return Outcome(message["key"], "failed", reason, retry_after_seconds(response.headers.get("Retry-After")))
        return Outcome(message["key"], "rejected", reason)

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        return list(self._pool.map(self._post, messages))

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class SmsResource(dg.ConfigurableResource):
    """An SMS gateway taking JSON POSTs (HOURGLASS_SMS_*). Without a URL, SMS goes to the outbox."""

    url: str = ""
    token: str = ""  # EnvVar("HOURGLASS_SMS_TOKEN")
    rate_per_second: float = 0.0  # the gateway's limit; 0 means none
    concurrency: int = 4
    timeout: float = 10.0

    def configured(self) -> bool:
        return bool(self.url)

    def sender_for(self) -> HttpSender:
        return HttpSender(self.url, self.token, "", self.concurrency, self.rate_per_second, self.timeout)


class WebhookResource(dg.ConfigurableResource):
    """CRM write-back by signed JSON POSTs (HOURGLASS_WEBHOOK_*). Without a URL, it goes to the outbox."""

    url: str = ""
    secret: str = ""  # EnvVar("HOURGLASS_WEBHOOK_SECRET"): the HMAC key
    rate_per_second: float = 0.0
    concurrency: int = 4
    timeout: float = 10.0

    def configured(self) -> bool:
        return bool(self.url)

    def sender_for(self) -> HttpSender:
        return HttpSender(self.url, "", self.secret, self.concurrency, self.rate_per_second, self.timeout)
