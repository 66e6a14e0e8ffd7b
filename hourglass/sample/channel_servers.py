"""Real channel servers on loopback, for the tests and the benchmarks.

`LoopbackSmtp` is an aiosmtpd SMTP server; `LoopbackHttp` is an HTTP server that behaves like an SMS gateway
or a CRM webhook receiver: it honours `Idempotency-Key` (a repeated key is answered, not applied again),
checks the signature when it has a secret (401 when it does not hold or its timestamp is stale, 409 when the
same signed request comes again: a replay), and can be told to fail the way real APIs do.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import socket
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hourglass.channels.http import SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, SignatureError, verify


@dataclass
class Fault:
    status: int
    times: int  # how many requests get it
    retry_after: str | None = None


class Rendezvous:
    """Requests wait until `parties` of them are in flight at once (once), or until `timeout` seconds after the
    first arrived: clients started together are then certain to send side by side, however slowly each of
    them started. The timeout stays below the clients' own, so a client left alone is slowed, never failed."""

    def __init__(self, parties: int = 0, timeout: float = 20.0):
        self.parties, self.timeout = parties, timeout
        self.in_flight = 0
        self.met = parties <= 1
        self._first: float | None = None
        self._lock = threading.Lock()

    def arrive(self) -> None:
        with self._lock:
            self.in_flight += 1
            self._first = self._first or time.monotonic()
            self.met = self.met or self.in_flight >= self.parties

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _waiting(self) -> bool:
        self.met = self.met or time.monotonic() >= (self._first or 0) + self.timeout
        return not self.met

    def wait(self) -> None:
        while self._waiting():
            time.sleep(0.02)

    async def wait_async(self) -> None:
        while self._waiting():
            await asyncio.sleep(0.02)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        state.rendezvous.arrive()
        try:
            state.rendezvous.wait()
        finally:
            state.rendezvous.leave()
        if state.delay:
            time.sleep(state.delay)
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            state.requests += 1
            state.arrivals.append(time.monotonic())
            fault = state.faults[0] if state.faults else None
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.pop(0)
        if fault:
            self._answer(fault.status, {"error": "injected"}, fault.retry_after)
            return
        refused = self._signature_refused(state, key or "", body) if state.secret else None
        if refused:
            with state.lock:
                state.refused[refused] += 1
            self._answer(409 if refused == "replayed" else 401, {"error": f"signature {refused}"})
            return
        payload = json.loads(body)
        if state.reject_field and payload.get(state.reject_field) in state.reject_values:
            self._answer(422, {"error": f"invalid {state.reject_field}"})
            return
        with state.lock:
            if key and key in state.applied:
                state.replays[key] += 1
            else:
                state.applied[key or f"no-key-{state.requests}"] = payload
        self._answer(200, {"id": key})

    def _signature_refused(self, state: HttpState, key: str, body: bytes) -> str | None:
        """Why the request's signature is refused (malformed, mismatch, stale, replayed), or None."""
        try:
            signature = verify(state.secret, self.headers.get(SIGNATURE_HEADER, ""), key, body, state.tolerance)
        except SignatureError as exc:
            return exc.reason
        with state.lock:
            # Signatures are remembered as long as their timestamp would pass: an older one is refused as stale.
            horizon = time.time() - state.tolerance
            while state.seen_order and state.seen_order[0][0] < horizon:
                state.seen.discard(state.seen_order.popleft()[1])
            if signature.digest in state.seen:
                return "replayed"
            state.seen.add(signature.digest)
            state.seen_order.append((signature.timestamp, signature.digest))
        return None

    def _answer(self, status: int, payload: dict, retry_after: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)


@dataclass
class HttpState:
    secret: str = ""
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS  # seconds a signature's timestamp may be off
    delay: float = 0.0  # seconds per request, like a real API's latency
    requests: int = 0
    arrivals: list[float] = field(default_factory=list)  # monotonic time of each request
    applied: dict[str, Any] = field(default_factory=dict)  # Idempotency-Key -> the payload applied once
    replays: Counter = field(default_factory=Counter)  # keys sent again and recognised
    refused: Counter = field(default_factory=Counter)  # signatures refused, by reason (replayed: seen before)
    seen: set[str] = field(default_factory=set)  # signatures accepted within the tolerance
    seen_order: deque = field(default_factory=deque)  # (timestamp, signature) in arrival order, to forget old ones
    faults: list[Fault] = field(default_factory=list)
    reject_field: str | None = None
    reject_values: set = field(default_factory=set)
    rendezvous: Rendezvous = field(default_factory=Rendezvous)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HttpState


class LoopbackHttp:
    def __init__(
        self, secret: str = "", delay: float = 0.0, tolerance: float = SIGNATURE_TOLERANCE_SECONDS, overlap: int = 0
    ):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = HttpState(secret=secret, delay=delay, tolerance=tolerance, rendezvous=Rendezvous(overlap))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def state(self) -> HttpState:
        return self._server.state

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/messages"

    def fail(self, status: int, times: int, retry_after: str | None = None) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(status, times, retry_after))

    def __enter__(self) -> LoopbackHttp:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    """aiosmtpd's Controller checks its own port after start, so it needs a real one rather than 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _SmtpHandler:
    def __init__(self, refuse: set[str], drop_every: int = 0, stall_every: int = 0, stall_seconds: float = 0.0):
        self.refuse = refuse
        # Faults pick every n-th new message; a resend of one is never picked again, so each fault costs exactly
        # one retry and a test's counts don't hang on which message a resend happens to follow.
        self.drop_every = drop_every  # answer with 421 and close, as an overloaded server does
        self.stall_every = stall_every  # accept only after stall_seconds: clients time out
        self.stall_seconds = stall_seconds
        self.seen = 0  # every DATA, resends included
        self.new: set[bytes] = set()
        self.received: list[bytes] = []  # raw, parsed only when asked: a real server does not parse either
        self.envelopes: list[tuple[list[str], list[str]]] = []  # (recipients, MAIL options) of each accepted one
        self.logins: dict[str, str] = {}  # username -> password the server accepts
        self.login_attempts = 0
        self.rendezvous = Rendezvous()
        self.lock = threading.Lock()

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        with self.lock:
            self.login_attempts += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False)  # a failure answers 535

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.rendezvous.arrive()
        try:
            await self.rendezvous.wait_async()
        finally:
            self.rendezvous.leave()
        digest = hashlib.blake2b(envelope.content, digest_size=16).digest()
        with self.lock:
            self.seen += 1
            first = digest not in self.new
            self.new.add(digest)
            if first and self.drop_every and len(self.new) % self.drop_every == 0:
                server.transport.close()  # the connection drops mid-batch; the message is not accepted
                return "421 4.3.2 service shutting down"
            stall = first and bool(self.stall_every) and len(self.new) % self.stall_every == 0
        if stall:
            await asyncio.sleep(self.stall_seconds)
        with self.lock:
            self.received.append(envelope.content)
            self.envelopes.append((list(envelope.rcpt_tos), list(envelope.mail_options)))
        return "250 Message accepted for delivery"


class LoopbackSmtp:
    """An SMTP server on 127.0.0.1; `messages` holds what it accepted, parsed.

    Optionally like a real submission server: STARTTLS required (`starttls`, a server-side SSLContext) or
    implicit TLS (`implicit_tls`), a login required (`logins`, which a server sends only over TLS unless
    `login_without_tls`), and without SMTPUTF8 (`smtputf8=False`).
    """

    def __init__(
        self,
        refuse: set[str] | None = None,
        drop_every: int = 0,
        stall_every: int = 0,
        stall_seconds: float = 0.0,
        *,
        smtputf8: bool = True,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        logins: dict[str, str] | None = None,
        login_without_tls: bool = False,
        overlap: int = 0,
    ):
        self.handler = _SmtpHandler(refuse or set(), drop_every, stall_every, stall_seconds)
        self.handler.rendezvous = Rendezvous(overlap)  # hold replies until this many messages are in flight at once
        self.handler.logins = dict(logins or {})
        self.port = free_port()
        options: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if starttls:
            options.update(tls_context=starttls, require_starttls=True)
        if logins:  # offered over plain text only when asked; then not required (aiosmtpd warns against that)
            options.update(
                authenticator=self.handler.authenticate,
                auth_required=not login_without_tls,
                auth_require_tls=not login_without_tls,
            )
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ssl_context=implicit_tls, **options
        )

    @property
    def messages(self) -> list[email.message.Message]:
        with self.handler.lock:
            raw = list(self.handler.received)
        return [email.message_from_bytes(data) for data in raw]

    @property
    def count(self) -> int:
        return len(self.handler.received)

    def __enter__(self) -> LoopbackSmtp:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()
