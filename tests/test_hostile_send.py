"""Hostile values from a source, through the real nightly job, into a real SMTP server on loopback.

A lead form or a CRM export can carry anything in a name or an address. Whatever arrives, every message that
leaves is one well-formed multipart e-mail to one person, with only our headers, links only from the
template, and every value from the source shown as text; and nobody gets a message twice over two sends.
"""

import email
import os
import subprocess
import sys
from collections import Counter
from email import policy
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest
from conftest import AS_OF, _ts, write_landing

from hourglass.activation import in_holdout
from hourglass.campaigns import audience_nodes
from hourglass.project import manifest
from hourglass.sample.channel_servers import LoopbackSmtp

CAMPAIGN = "welcome_new_members"
SITE = "https://www.example-theater.nl"
EVIL = "evil@example.com"
NAMES = {
    "H01": f"Jan\r\nBcc: {EVIL}",  # an extra header
    "H02": "Jan\r\n\r\nYour account is locked: https://evil.example/login",  # a body of the sender's choosing
    "H03": 'Eve"><a href="https://evil.example/">win</a>',  # markup and quotes
    "H04": 'https://evil.example/"style="x" onmouseover="alert(1)',  # a URL that breaks out of an attribute
    "H05": "Subject: free tickets\nX-Priority: 1",  # a bare LF
    "H06": "Ρaul",  # a Greek capital rho that looks like P
    "H07": "=?utf-8?q?Bcc=3A_evil=40example=2Ecom?=",  # an encoded word, which must stay text
    "H08": "Zoë\u2028Ångström\t",  # a Unicode line separator and a tab
    "H09": "Jürgen",
    "H10": "Anna",
    "H11": "Eva",
}
ADDRESSES = {
    "H06": "paul@exаmple.nl",  # a Cyrillic a in the domain: a different domain, sent as IDNA
    "H09": "jürgen@example.de",  # a non-ASCII local part needs SMTPUTF8
    "H10": f"anna@example.nl\r\nBcc: {EVIL}",  # never an address
    "H11": "  EVA@Example.NL ",
}
ALLOWED_HEADERS = {
    "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "content-transfer-encoding",
    "x-hourglass-key", "x-hourglass-campaign",
}  # fmt: skip


def _hostile_in_the_campaign(home) -> dict[str, str]:
    """customer_id -> e-mail of the hostile rows the campaign reached: in its audience and not held out."""
    audience = pq.read_table(home / "lake" / "audiences" / f"{CAMPAIGN}.parquet").to_pylist()
    return {
        row["customer_id"]: row["email"]
        for row in audience
        if row["customer_id"] in NAMES and not in_holdout(CAMPAIGN, row["customer_key"], 0.1)
    }


def _rows() -> list[dict]:
    return [
        {
            "customer_id": cid,
            "first_name": name,
            "email": ADDRESSES.get(cid, f"{cid.lower()}@example.nl"),
            "language": "en",
            "created_at": _ts(2),
            "updated_at": _ts(2),
            "consent_email_marketing": "true",
            "consent_email_marketing_at": _ts(2),
        }
        for cid, name in NAMES.items()
    ]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _html_tags(message: email.message.EmailMessage) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(message.get_body(("html",)).get_content())
    return parser.tags


@pytest.fixture(scope="module")
def sent(tmp_path_factory, dbt_manifest):
    """The nightly job, then the same campaign sent again from the command line, into one SMTP server."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    from hourglass.sample.generator import generate

    generate(out=home / "landing", customers=150, seed=11, as_of=AS_OF)
    write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_hostile.csv", _rows())
    with LoopbackSmtp() as smtp:  # offers SMTPUTF8
        env = {
            **os.environ,
            "HOURGLASS_HOME": str(home),
            "HOURGLASS_AS_OF_DATE": AS_OF.isoformat(),
            "HOURGLASS_NOW": f"{AS_OF}T10:00:00",
            "HOURGLASS_SMTP_HOST": "127.0.0.1",
            "HOURGLASS_SMTP_PORT": str(smtp.port),
            "HOURGLASS_SMTP_TLS": "off",  # the loopback server speaks plain SMTP
            "HOURGLASS_SITE_URL": SITE,
        }
        cli = [sys.executable, "-m", "hourglass.cli"]
        nightly = subprocess.run([*cli, "run"], env=env, capture_output=True, text=True)
        assert nightly.returncode == 0, nightly.stdout[-3000:] + nightly.stderr[-3000:]
        again = subprocess.run([*cli, "activate", CAMPAIGN], env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr[-3000:]
        raw = list(smtp.handler.received)
        envelopes = [recipients for recipients, _ in smtp.handler.envelopes]
    return home, raw, envelopes


def test_every_message_is_one_well_formed_email_to_one_person(sent):
    _, raw, envelopes = sent
    assert raw, "the campaign sent nothing"
    campaigns = {node["name"] for node in audience_nodes(manifest())}
    for data, recipients in zip(raw, envelopes, strict=True):
        message = email.message_from_bytes(data, policy=policy.default)
        assert not message.defects, message.defects
        assert message.get_content_type() == "multipart/alternative"
        assert {p.get_content_type() for p in message.iter_parts()} == {"text/plain", "text/html"}
        assert {name.lower() for name in message.keys()} <= ALLOWED_HEADERS
        assert message["X-Hourglass-Campaign"] in campaigns  # the nightly job sends every campaign
        key = message["X-Hourglass-Key"]
        assert message["Message-ID"].startswith(f"<{key}@")
        assert len(recipients) == 1 and EVIL not in recipients
        assert len(message.get_all("To")) == 1 and EVIL not in str(message["To"])
        assert "\r" not in str(message["Subject"]) and "\n" not in str(message["Subject"])


def test_values_from_a_source_are_text_and_links_come_only_from_the_template(sent):
    _, raw, _ = sent
    by_name = {}
    for data in raw:
        message = email.message_from_bytes(data, policy=policy.default)
        tags = _html_tags(message)
        links = [attrs.get("href", "") for tag, attrs in tags if tag == "a"]
        assert links and all(link.startswith(f"{SITE}/") for link in links), links
        assert all(set(attrs) <= {"href"} for _, attrs in tags), tags  # no style, no event handler
        text = message.get_body(("plain",)).get_content()
        by_name[str(message["To"])] = (str(message["Subject"]), text)
    expected = {
        "H03": ('Welcome to the House, Eve"><a href="https://evil.example/">win</a>!', None),
        "H02": (
            "Welcome to the House, Jan Your account is locked: https://evil.example/login!",
            "Dear Jan Your account is locked",  # one line: the name cannot start a paragraph of its own
        ),
        "H07": ("Welcome to the House, =?utf-8?q?Bcc=3A_evil=40example=2Ecom?=!", None),  # as typed, not decoded
    }
    reached = _hostile_in_the_campaign(sent[0])
    assert len(set(expected) & set(reached)) >= 2, reached  # the holdout leaves enough of them to look at
    for customer_id, (subject, line) in expected.items():
        if customer_id in reached:
            got_subject, body = by_name[reached[customer_id]]
            assert got_subject == subject
            assert line is None or line in body


def test_odd_addresses_are_sent_to_exactly_or_not_at_all(sent):
    home, raw, envelopes = sent
    delivered = Counter(r for recipients in envelopes for r in recipients)
    reached = _hostile_in_the_campaign(home)
    assert "H10" not in reached  # an address with a line break is no address: not in the audience at all
    assert not any("anna" in r for r in delivered) and EVIL not in delivered
    on_the_wire = {  # how each reached address goes out: staged, then IDNA for a non-ASCII domain
        "eva@example.nl": "eva@example.nl",  # trimmed and lower-cased in staging
        "jürgen@example.de": "jürgen@example.de",  # SMTPUTF8: the server offers it
        "paul@exаmple.nl": "paul@xn--exmple-4nf.nl",
    }
    assert set(reached.values()) & set(on_the_wire), reached  # the holdout leaves some odd address to look at
    for address in reached.values():
        assert delivered[on_the_wire.get(address, address)] == 1, address


def test_nobody_gets_a_message_twice_over_two_sends(sent):
    _, raw, envelopes = sent
    delivered = Counter(r for recipients in envelopes for r in recipients)
    assert delivered and max(delivered.values()) == 1, delivered.most_common(3)
    keys = Counter(email.message_from_bytes(data)["X-Hourglass-Key"] for data in raw)
    assert max(keys.values()) == 1
