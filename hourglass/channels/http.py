"""JSON over HTTP: the SMS API and the webhook / CRM write-back.

Every request carries the message key as `Idempotency-Key`, so a resent request after a crash or a retry is
recognised by the receiver; webhook bodies are signed with HMAC-SHA256 over the exact bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Any

import dagster as dg
import requests

from hourglass.ledger import Outcome

SIGNATURE_HEADER = "X-Hourglass-Signature"
RETRYABLE = {408, 425, 429}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
        self.timeout = timeout
        self.rate = RateLimit(rate_per_second)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="http")

    def _session(self) -> requests.Session:
        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
        return self._local.session

    def _post(self, message: dict[str, Any]) -> Outcome:
        body = json.dumps(message["payload"], ensure_ascii=False, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message["key"]}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        self.rate.wait()
        try:
            response = self._session().post(self.url, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return Outcome(message["key"], "failed", f"{type(exc).__name__}: {exc}"[:300])
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(message["key"], "sent")
        reason = f"HTTP {code}: {response.text[:200]}"
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
