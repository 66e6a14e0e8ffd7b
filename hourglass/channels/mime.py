"""One e-mail as MIME bytes: one recipient, header values that can only ever be text, both parts quoted-printable.

Written out here rather than through email.message.EmailMessage, for two reasons: its header folding (Python
3.11) turns an encoded word inside a value (`=?utf-8?q?=0D=0ABcc:...?=`) into a real line break, so a name could
still add a header; and it is far slower per message, which counts when a campaign sends to a million people.
Here every header value is a fixed token, an address that passed a strict grammar, or literal text (control
characters become spaces; anything but short plain ASCII goes out as RFC 2047 encoded words), and the finished
header block is counted: exactly the headers written, no line break that is not a fold.
"""

from __future__ import annotations

import binascii
import re
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from typing import Any

import idna

CRLF = "\r\n"
# What a header must never carry: C0 and C1 controls (CR and LF among them), and the Unicode line and paragraph
# separators, which Python's own line splitting honours too.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
LOCAL_ASCII = re.compile(rf"[{ATEXT}]+(?:\.[{ATEXT}]+)*")
LOCAL_UTF8 = re.compile(rf"[\u0080-\U0010ffff{ATEXT}]+(?:\.[\u0080-\U0010ffff{ATEXT}]+)*")  # RFC 6532
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?:{LABEL}\.)+{LABEL}")
TOKEN = re.compile(r"[A-Za-z0-9._-]+")
HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "X-Hourglass-Key", "X-Hourglass-Campaign", "MIME-Version",
           "Content-Type")  # fmt: skip


class Unsendable(ValueError):
    """This message cannot go out as it is; the reason names the rule, never the address."""


def clean(value: str) -> str:
    """Header text on one line: every control character, CR and LF among them, becomes a space."""
    return CONTROLS.sub(" ", value)


def recipient(address: str, smtputf8: bool) -> tuple[str, bool]:
    """The address as it goes on the envelope and in To:, and whether the message needs SMTPUTF8.

    A non-ASCII domain is written as IDNA A-labels, which every server reads; a non-ASCII local part can only go
    to a server that offers SMTPUTF8. Only a plain dot-atom address passes: no display name, comment, quoted
    local part or second address can ride along.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise Unsendable("not an e-mail address")
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except UnicodeError:  # idna.IDNAError is one
            raise Unsendable("the domain is not a valid international domain name") from None
    if not DOMAIN.fullmatch(domain):
        raise Unsendable("the domain is not a valid domain name")
    utf8 = not local.isascii()
    if utf8 and not smtputf8:
        raise Unsendable("non-ASCII characters before the @ need SMTPUTF8, which the SMTP server does not offer")
    if not (LOCAL_UTF8 if utf8 else LOCAL_ASCII).fullmatch(local) or not local.isprintable():
        raise Unsendable("not a plain e-mail address")
    if len(local.encode()) > 64 or len(local.encode()) + 1 + len(domain) > 254:
        raise Unsendable("the address is longer than SMTP allows")
    return f"{local}@{domain}", utf8


@lru_cache(maxsize=4096)  # subjects repeat with first names; campaign names always
def text_header(name: str, value: str) -> str:
    """`Name: value` + CRLF, the value literal text: short plain ASCII as it is, anything else encoded."""
    value = clean(value)
    if value.isascii() and "=?" not in value and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}{CRLF}"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode(linesep=CRLF)}{CRLF}"


def _quoted_printable(text: str) -> bytes:
    """The body as quoted-printable with CRLF line ends: no bare CR, no long line, and no boundary (the
    boundary starts with '=', which quoted-printable always encodes)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode(), istext=True).replace(b"\n", b"\r\n")


def _checked(head: str) -> str:
    """The header block, refused unless it is exactly the headers written: every other line break a fold."""
    breaks = head.count(CRLF)
    folds = head.count(CRLF + " ") + head.count(CRLF + "\t")
    if head.count("\r") != breaks or head.count("\n") != breaks or breaks - folds != len(HEADERS):
        raise ValueError("the header block does not hold exactly the headers written")
    return head


class EmailBuilder:
    """multipart/alternative: the plain text and the HTML part, from one sender."""

    def __init__(self, sender: str):
        name, address = parseaddr(clean(sender))
        try:
            self.envelope_sender, _ = recipient(address, smtputf8=False)
        except Unsendable as exc:
            raise ValueError(f"the sender (HOURGLASS_SMTP_FROM) is not usable: {exc}") from None
        self.domain = self.envelope_sender.rpartition("@")[2]
        self._from = f"From: {formataddr((name, self.envelope_sender), charset='utf-8')}{CRLF}"

    def build(self, message: dict[str, Any], smtputf8: bool) -> tuple[str, bytes, bool]:
        """(envelope recipient, the message, whether it needs SMTPUTF8); Unsendable for an unusable address."""
        to, utf8 = recipient(message["to"], smtputf8)
        key = message["key"]
        if not TOKEN.fullmatch(key):
            raise ValueError("a message key must be a token")
        boundary = f"=_hourglass_{key}"
        head = _checked(
            self._from
            + f"To: {to}{CRLF}"
            + text_header("Subject", message["subject"])
            + f"Date: {formatdate(localtime=True)}{CRLF}"
            # The key in the Message-ID lets a receiving system, or a person reading logs, spot a resent message.
            + f"Message-ID: <{key}@{self.domain}>{CRLF}"
            + f"X-Hourglass-Key: {key}{CRLF}"
            + text_header("X-Hourglass-Campaign", message["campaign"])
            + f"MIME-Version: 1.0{CRLF}"
            + f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}'
        )
        part = f'--{boundary}{CRLF}Content-Type: text/%s; charset="utf-8"{CRLF}'
        part += f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        data = b"".join(
            (
                head.encode("utf-8" if utf8 else "ascii"),
                CRLF.encode(),
                (part % "plain").encode(),
                _quoted_printable(message["body"]),
                CRLF.encode(),
                (part % "html").encode(),
                _quoted_printable(message["html"]),
                f"{CRLF}--{boundary}--{CRLF}".encode(),
            )
        )
        return to, data, utf8
