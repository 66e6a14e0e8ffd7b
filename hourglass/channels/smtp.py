"""E-mail over SMTP: a few long-lived connections used side by side, one multipart message per recipient.

TLS is on unless turned off: STARTTLS (or implicit TLS) with the system's certificate authorities, or the one
in `ca_file`, and a login never goes over an unencrypted connection unless allowed by name. A connection, TLS
or login that fails stops the channel for the run (ChannelUnavailable) instead of failing each message.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg

from hourglass.channels import ChannelUnavailable
from hourglass.channels.mime import EmailBuilder, Unsendable
from hourglass.ledger import Outcome
from hourglass.redact import redact

TLS_MODES = ("starttls", "implicit", "off")


# Plain SMTP cannot tell whether a message whose connection broke or timed out was accepted: resent, it may
# arrive twice. Such sends carry this reason and are reported as possibly duplicated.
RESENT = "resent after the connection failed; may have arrived twice"


class SmtpSender:
    """`concurrency` connections, each reused for a share of every batch; a dropped one is reopened once."""

    idempotent = False

    def __init__(self, config: SmtpResource):
        self.config = config
        self.problem = config.problem()
        self.builder = None if self.problem else EmailBuilder(config.sender)
        self._local = threading.local()
        self._connections: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._connected = False  # once a connection worked, a failed reconnect fails only its message
        self._unavailable: ChannelUnavailable | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="smtp")

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                try:
                    self._context = ssl.create_default_context(cafile=self.config.ca_file or None)
                except (OSError, ssl.SSLError) as exc:
                    raise ChannelUnavailable(f"HOURGLASS_SMTP_CA_FILE cannot be used: {exc}") from None
            return self._context

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"the SMTP server {c.host}:{c.port}"
        smtp = None
        try:
            if c.tls == "implicit":
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            smtp.ehlo()
            if c.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise ChannelUnavailable(f"{where} does not offer STARTTLS (HOURGLASS_SMTP_TLS is starttls)")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password)
        except ChannelUnavailable:
            self._discard(smtp)
            raise
        except ssl.SSLCertVerificationError as exc:
            self._discard(smtp)
            raise ChannelUnavailable(
                f"TLS with {where} failed: {exc.verify_message} (HOURGLASS_SMTP_CA_FILE trusts a private CA)"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            self._discard(smtp)
            # The server's text is left out: some echo what was sent.
            settings = "HOURGLASS_SMTP_USERNAME and HOURGLASS_SMTP_PASSWORD"
            raise ChannelUnavailable(f"{where} refused the login ({exc.smtp_code}): check {settings}") from None
        except smtplib.SMTPNotSupportedError:
            self._discard(smtp)
            raise ChannelUnavailable(f"{where} offers no login (AUTH) on this connection") from None
        except (OSError, smtplib.SMTPException) as exc:
            self._discard(smtp)
            if self._connected:  # it worked before: this message fails and is retried on a later run
                raise ConnectionError(f"reconnecting failed: {type(exc).__name__}") from exc
            what = f"TLS with {where} failed" if isinstance(exc, ssl.SSLError) else f"cannot connect to {where}"
            raise ChannelUnavailable(f"{what}: {type(exc).__name__}: {exc}") from None
        with self._lock:
            self._connected = True
            self._connections.append(smtp)
        return smtp

    @staticmethod
    def _discard(smtp: smtplib.SMTP | None) -> None:
        if smtp is not None:
            smtp.close()

    def _connection(self, fresh: bool = False) -> smtplib.SMTP:
        if fresh or getattr(self._local, "smtp", None) is None:
            self._local.smtp = None
            self._local.smtp = self._connect()
        return self._local.smtp

    def _send_share(self, share: list[dict[str, Any]]) -> list[Outcome]:
        outcomes = []
        for message in share:
            if self._unavailable is not None:
                break  # another connection found the channel down: the rest stays due
            try:
                outcomes.append(self._send_one(message))
            except ChannelUnavailable as exc:
                self._unavailable = self._unavailable or exc
                break
            except Exception as exc:  # noqa: BLE001 - one message's failure is its own, never its batch's
                outcomes.append(Outcome(message["key"], "failed", f"not sent: {type(exc).__name__}"))
        return outcomes

    def _send_one(self, message: dict[str, Any]) -> Outcome:
        key = message["key"]
        for attempt in (1, 2):
            try:
                smtp = self._connection(fresh=attempt == 2)
                try:
                    to, data, utf8 = self.builder.build(message, smtputf8=smtp.has_extn("smtputf8"))
                except Unsendable as exc:
                    return Outcome(key, "rejected", f"address: {exc}")
                options = ["SMTPUTF8"] if utf8 else []
                refused = smtp.sendmail(self.builder.envelope_sender, [to], data, mail_options=options)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                return self._refused(message, code, text)
            except smtplib.SMTPResponseException as exc:
                return self._refused(message, exc.smtp_code, exc.smtp_error)
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc:
                self._local.smtp = None
                if attempt == 2:
                    return Outcome(key, "failed", f"SMTP connection: {exc}")
                continue
            if refused:
                code, text = next(iter(refused.values()))
                return self._refused(message, code, text)
            if attempt == 2:  # the first try may have been accepted before the connection failed
                return Outcome(key, "sent", RESENT)
            return Outcome(key, "sent")
        raise AssertionError("unreachable")

    @staticmethod
    def _refused(message: dict[str, Any], code: int, text: bytes | str) -> Outcome:
        reason = redact(f"SMTP {code}: {text.decode(errors='replace') if isinstance(text, bytes) else text}")
        # 5xx is permanent (bad address, policy); 4xx asks to try again later.
        return Outcome(message["key"], "rejected" if code >= 500 else "failed", reason)

    def deliver(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        if self._unavailable is None and self.problem:
            self._unavailable = ChannelUnavailable(self.problem)
        if self._unavailable is not None:
            raise ChannelUnavailable(str(self._unavailable))
        n = max(1, min(self.config.concurrency, len(messages)))
        shares = [messages[i::n] for i in range(n)]
        done = [o for share in self._pool.map(self._send_share, shares) for o in share]
        if self._unavailable is not None:
            raise ChannelUnavailable(str(self._unavailable), done)
        by_key = {o.key: o for o in done}
        return [by_key[m["key"]] for m in messages]

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for smtp in self._connections:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class SmtpResource(dg.ConfigurableResource):
    """SMTP settings (HOURGLASS_SMTP_*). Without a host, e-mail goes to the outbox."""

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""  # EnvVar("HOURGLASS_SMTP_PASSWORD") in definitions; never logged
    tls: str = "starttls"  # starttls, implicit (port 465) or off
    ca_file: str = ""  # a CA bundle to trust instead of the system's, for a private CA
    allow_plaintext_login: bool = False
    sender: str = "Het Huis <nieuws@example-theater.nl>"
    concurrency: int = 4
    timeout: float = 30.0

    def configured(self) -> bool:
        return bool(self.host)

    def problem(self) -> str | None:
        """Why these settings cannot send at all, or None."""
        if self.tls not in TLS_MODES:
            return f"HOURGLASS_SMTP_TLS must be one of {', '.join(TLS_MODES)}, got {self.tls!r}"
        if self.username and self.tls == "off" and not self.allow_plaintext_login:
            return (
                "a login over an unencrypted connection is refused: set HOURGLASS_SMTP_TLS to starttls or implicit,"
                " or HOURGLASS_SMTP_ALLOW_PLAINTEXT_LOGIN=true"
            )
        if self.ca_file and not os.path.isfile(self.ca_file):
            return "HOURGLASS_SMTP_CA_FILE is not a file"
        try:
            EmailBuilder(self.sender)
        except ValueError as exc:
            return str(exc)
        return None

    def sender_for(self) -> SmtpSender:
        return SmtpSender(self)
