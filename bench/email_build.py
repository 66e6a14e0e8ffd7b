"""The cost of one e-mail before it reaches SMTP: rendering both parts, and building the MIME bytes, against the
standard library's EmailMessage with policy.SMTP building the same message. Each figure is the best of a few
passes over the same messages, in microseconds per message."""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from bench.common import table

SENDER = "Het Huis <nieuws@example-theater.nl>"
NAMES = ["Sanne", "Zoë", "Jan", "Fatima", "Ömer", "Lotte", "Daan", "Eva"]


def _best(fn: Callable, items: list, passes: int) -> float:
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        for item in items:
            fn(item)
        seconds.append(time.perf_counter() - started)
    return min(seconds) / len(items) * 1e6


def _email_message(message: dict) -> bytes:
    built = EmailMessage(policy=policy.SMTP)
    built["From"] = SENDER
    built["To"] = message["to"]
    built["Subject"] = message["subject"]
    built["Date"] = formatdate(localtime=True)
    built["Message-ID"] = f"<{message['key']}@example-theater.nl>"
    built["X-Hourglass-Key"] = message["key"]
    built["X-Hourglass-Campaign"] = message["campaign"]
    built.set_content(message["body"], cte="quoted-printable")
    built.add_alternative(message["html"], subtype="html", cte="quoted-printable")
    return built.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HOURGLASS_HOME", tempfile.mkdtemp(prefix="hourglass-bench-email-"))

    from hourglass import messages
    from hourglass.channels.mime import EmailBuilder

    campaign = "winback_lapsed"
    rows = [{"customer_key": f"k{i}", "first_name": NAMES[i % len(NAMES)], "language": "nl" if i % 2 else "en"}
            for i in range(args.messages)]  # fmt: skip
    built = [
        {"key": messages.message_key(campaign, r["customer_key"], "email", "2026-11-20"), "campaign": campaign,
         "to": f"persoon{i}@example.nl", **messages.render_email(campaign, r, campaign)}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    builder = EmailBuilder(SENDER)
    few = built[: max(1, args.messages // 20)]  # EmailMessage is slow: a twentieth of the messages
    render = _best(lambda r: messages.render_email(campaign, r, campaign), rows, args.passes)
    build = _best(lambda m: builder.build(m, smtputf8=False), built, args.passes)
    stdlib = _best(_email_message, few, args.passes)
    rows_out = [["render_email (subject, text, HTML)", render], ["EmailBuilder.build", build],
                ["EmailMessage + policy.SMTP", stdlib]]  # fmt: skip
    print(table(["step", "µs per message"], rows_out))


if __name__ == "__main__":
    main()
