"""E-mail send safety, against the real loopback SMTP server through `activation.run_campaign`: a customer's
values can only ever be text in a message; a non-ASCII address costs at most its own message; TLS is verified
and a login never goes out in plain text unless allowed; a channel that cannot send fails the run and leaves
every message due, so a later run delivers each exactly once."""

import email
import re
import ssl
import time
from dataclasses import replace
from email import policy
from html.parser import HTMLParser

import pytest
import test_activation
import trustme
from conftest import AS_OF
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from test_activation import ABANDONERS, land, person, receipts, write_audience

from hourglass import activation, messages, settings
from hourglass.channels.ads import AdAudienceResource
from hourglass.channels.http import SmsResource, WebhookResource
from hourglass.channels.mime import EmailBuilder
from hourglass.channels.outbox import OutboxResource
from hourglass.channels.smtp import SmtpResource
from hourglass.ledger import Ledger
from hourglass.sample.channel_servers import LoopbackSmtp, free_port

world = test_activation.world  # the same fixture: a CRM landed in a temporary HOURGLASS_HOME
CAMPAIGN = replace(ABANDONERS, name="winback_lapsed", template="winback_lapsed", holdout_share=0.0)
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "X-Hourglass-Key", "X-Hourglass-Campaign", "MIME-Version",
           "Content-Type"]  # fmt: skip
# The rule for header text, stated here on its own: every control character (CR and LF among them) and the
# Unicode line and paragraph separators become a space.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HOSTILE_NAMES = [
    "Jan\r\nBcc: evil@example.com",
    "Jan\r\n\r\nThis text would end the headers",
    "Jan\nX-Injected: yes\rReply-To: evil@example.com",
    "Jan\u2028Bcc: evil@example.com",
    "=?utf-8?q?Jan=0D=0ABcc:_evil@example.com?=",  # an encoded word carrying CR LF
    'Jan" onmouseover="alert(1)',
    '<a href="https://evil.example/">Klik hier</a>',
    "https://evil.example/login?next=1&x=2",
    "Jаn",  # a Cyrillic а
    "Zoë 王芳 🎭",
    "Jan\x00\x1b[31m\t\x7f\x85end",
    '"Jan" <evil@example.com>, other@example.com',
    "J" * 300,
]


def email_channels(port: int, **smtp) -> activation.Channels:
    return activation.Channels(
        outbox=OutboxResource(),
        smtp=SmtpResource(host="127.0.0.1", port=port, concurrency=3, **smtp),
        sms=SmsResource(),
        webhook=WebhookResource(),
        ad_audiences=AdAudienceResource(),
    )


def received(smtp: LoopbackSmtp) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(raw, policy=policy.default) for raw in smtp.handler.received]


def ledger_rows(campaign: str) -> list[tuple[str, str, float]]:
    with Ledger(settings.ledger_path()) as ledger:
        return ledger._con.execute(
            "select status, reason, next_attempt_at from messages where campaign = ?", (campaign,)
        ).fetchall()


def assert_every_message_due_now(campaign: str, count: int) -> None:
    """Not rejected, not waiting a backoff: the next run sends them all."""
    rows = ledger_rows(campaign)
    assert len(rows) == count
    assert all(status == "failed" and due <= time.time() for status, _, due in rows), rows[:3]


class _Html(HTMLParser):
    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.text: list[str] = []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1 from a test CA, and that CA's file for the client."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return server, str(path)


def test_hostile_names_stay_text_one_recipient_exactly_our_headers_and_only_the_template_link(world):
    home, _ = world
    people = [person(i, first_name=name) for i, name in enumerate(HOSTILE_NAMES, start=1)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    rows = {f"persoon{i}@example.nl": row for i, row in enumerate(write_audience(CAMPAIGN.name, people), start=1)}
    with LoopbackSmtp() as smtp:
        activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port, tls="off"), run_id="r1")
        received = list(zip(smtp.handler.received, smtp.handler.envelopes, strict=True))

    assert len(received) == len(people)
    for raw, (recipients, _) in received:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert list(message.keys()) == HEADERS  # no Bcc, no Reply-To, nothing a name added
        assert not message.defects and not any(message[h].defects for h in HEADERS)
        (to,) = message["To"].addresses
        assert recipients == [to.addr_spec] and not to.display_name
        row = rows[to.addr_spec]
        subject, _ = messages.render(CAMPAIGN.template, "email", row, CAMPAIGN.name)
        assert message["Subject"] == CONTROLS.sub(" ", subject)  # the name as text, on one line
        key = messages.message_key(CAMPAIGN.name, row["customer_key"], "email", AS_OF.isoformat())
        assert message["X-Hourglass-Key"] == key and message["Message-ID"] == f"<{key}@example-theater.nl>"
        assert message["X-Hourglass-Campaign"] == CAMPAIGN.name

        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        source = message.get_body(("html",)).get_content()
        page = _Html(source)
        link = messages.tracked_link(CAMPAIGN.name, "email", row)
        assert {tag for tag, _ in page.tags} <= {"html", "body", "p", "br", "a"}
        assert [attrs for tag, attrs in page.tags if tag == "a"] == [[("href", link)]]  # the template's link only
        assert source.count('"') == 2  # the href's own quotes: none from a name
        if not CONTROLS.search(row["first_name"]):
            assert row["first_name"] in "".join(page.text)  # kept, as text
            assert row["first_name"] in message.get_body(("plain",)).get_content()
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(CAMPAIGN.name) == {"sent": len(people)}


@hsettings(max_examples=200, deadline=None)
@given(
    name=st.one_of(st.none(), st.text(max_size=60), st.sampled_from(HOSTILE_NAMES)), lang=st.sampled_from(["nl", "en"])
)
def test_the_html_part_holds_a_name_as_text_and_the_plain_part_is_the_template_as_text(name, lang):
    row = {"customer_key": "k-1", "first_name": name, "language": lang}
    rendered = messages.render_email(CAMPAIGN.template, row, CAMPAIGN.name)
    assert (rendered["subject"], rendered["body"]) == messages.render(CAMPAIGN.template, "email", row, CAMPAIGN.name)
    page = _Html(rendered["html"])
    assert {tag for tag, _ in page.tags} <= {"html", "body", "p", "br", "a"}
    link = messages.tracked_link(CAMPAIGN.name, "email", row)
    assert [attrs for tag, attrs in page.tags if tag == "a"] == [[("href", link)]]


@hsettings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=200), campaign=st.text(max_size=40), body=st.text(max_size=300))
def test_any_text_in_a_header_value_stays_in_that_header(subject, campaign, body):
    """The builder on its own, over generated text: exactly the headers written, each value what was given."""
    message = {"key": "0123abcd", "to": "persoon1@example.nl", "subject": subject, "campaign": campaign,
               "body": body, "html": "<p>x</p>\n"}  # fmt: skip
    _, data, utf8 = EmailBuilder("Het Huis <nieuws@example-theater.nl>").build(message, smtputf8=False)
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert not utf8 and data.isascii()
    assert list(parsed.keys()) == HEADERS
    assert parsed["Subject"].strip() == CONTROLS.sub(" ", subject).strip()
    assert parsed["X-Hourglass-Campaign"].strip() == CONTROLS.sub(" ", campaign).strip()
    text = parsed.get_body(("plain",)).get_content()
    assert text.replace("\r\n", "\n") == body.replace("\r\n", "\n").replace("\r", "\n")


def test_a_non_ascii_address_goes_out_over_smtputf8_and_a_non_ascii_domain_as_idna(world):
    home, _ = world
    people = [person(1), person(2, email="zoë@example.nl"), person(3, email="info@bäckerei.nl")]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    write_audience(CAMPAIGN.name, people)
    with LoopbackSmtp() as smtp:  # offers SMTPUTF8
        activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port, tls="off"), run_id="r1")
        envelopes = sorted((rcpt, "SMTPUTF8" in options) for rcpt, options in smtp.handler.envelopes)
        to = sorted(m["To"] for m in received(smtp))
    assert envelopes == [(["info@xn--bckerei-5wa.nl"], False), (["persoon1@example.nl"], False),
                         (["zoë@example.nl"], True)]  # fmt: skip
    assert to == ["info@xn--bckerei-5wa.nl", "persoon1@example.nl", "zoë@example.nl"]


def test_an_address_the_server_cannot_take_is_rejected_alone_and_the_rest_arrive_once(world, monkeypatch):
    home, _ = world
    people = [person(i) for i in range(1, 13)]
    people[4] = person(5, email="zoë@example.nl")
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    write_audience(CAMPAIGN.name, people)
    monkeypatch.setenv("HOURGLASS_RETRY_BACKOFF_SECONDS", "0")  # anything failed is due again at the second run
    with LoopbackSmtp(smtputf8=False) as smtp:
        for run in ("r1", "r2"):
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port, tls="off"), run_id=run)
        keys = [m["X-Hourglass-Key"] for m in smtp.messages]
    assert len(keys) == len(set(keys)) == len(people) - 1  # everyone else, exactly once over two runs
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(CAMPAIGN.name) == {"sent": len(people) - 1, "rejected": 1}
    assert receipts(CAMPAIGN.name)["k-C0005"][0] == "rejected"
    ((reason,),) = {(reason,) for status, reason, _ in ledger_rows(CAMPAIGN.name) if status == "rejected"}
    assert "SMTPUTF8" in reason and "zoë" not in reason  # the rule, not the address


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_tls_is_verified_by_default_and_passes_with_the_configured_ca(world, tls, mode):
    home, people = world
    people = people[:10]
    write_audience(CAMPAIGN.name, people)
    server, ca_file = tls
    options = {"implicit": {"tls": "implicit"}, "starttls": {}}[mode]  # starttls is the default
    with LoopbackSmtp(**{"starttls" if mode == "starttls" else "implicit_tls": server}) as smtp:
        with pytest.raises(activation.ActivationError, match=r"TLS with the SMTP server 127\.0\.0\.1:\d+ failed"):
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port, **options), run_id="r1")
        assert smtp.count == 0
        assert_every_message_due_now(CAMPAIGN.name, len(people))

        trusted = email_channels(smtp.port, ca_file=ca_file, **options)
        result = activation.run_campaign(CAMPAIGN, [CAMPAIGN], trusted, run_id="r2")
        keys = [m["X-Hourglass-Key"] for m in smtp.messages]
    assert result["result_sent"] == len(keys) == len(set(keys)) == len(people)


def test_a_server_without_starttls_is_not_used_in_plain_text(world):
    home, people = world
    write_audience(CAMPAIGN.name, people[:5])
    with LoopbackSmtp() as smtp:  # offers no STARTTLS
        with pytest.raises(activation.ActivationError, match="does not offer STARTTLS"):
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port), run_id="r1")
        assert smtp.count == 0
    assert_every_message_due_now(CAMPAIGN.name, 5)


def test_a_login_in_plain_text_is_refused_unless_allowed_by_name(world):
    home, people = world
    write_audience(CAMPAIGN.name, people[:5])
    login = {"username": "hourglass", "password": "geheim-wachtwoord", "tls": "off"}
    with LoopbackSmtp(logins={"hourglass": "geheim-wachtwoord"}, login_without_tls=True) as smtp:
        with pytest.raises(activation.ActivationError, match="login over an unencrypted connection is refused") as err:
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(smtp.port, **login), run_id="r1")
        assert smtp.handler.login_attempts == 0 and smtp.count == 0  # the password never left
        assert "geheim" not in str(err.value)
        assert_every_message_due_now(CAMPAIGN.name, 5)

        allowed = email_channels(smtp.port, allow_plaintext_login=True, **login)
        activation.run_campaign(CAMPAIGN, [CAMPAIGN], allowed, run_id="r2")
        assert smtp.count == 5 and smtp.handler.login_attempts >= 1


def test_a_refused_login_fails_the_campaign_and_a_later_run_with_the_right_password_sends_each_once(world, tls):
    home, people = world
    write_audience(CAMPAIGN.name, people[:20])
    server, ca_file = tls
    with LoopbackSmtp(starttls=server, logins={"hourglass": "juist-wachtwoord"}) as smtp:
        wrong = email_channels(smtp.port, ca_file=ca_file, username="hourglass", password="fout-wachtwoord")
        with pytest.raises(activation.ActivationError, match=r"refused the login \(535\)") as err:
            activation.run_campaign(CAMPAIGN, [CAMPAIGN], wrong, run_id="r1")
        assert "wachtwoord" not in str(err.value) and smtp.count == 0
        assert_every_message_due_now(CAMPAIGN.name, 20)

        right = email_channels(smtp.port, ca_file=ca_file, username="hourglass", password="juist-wachtwoord")
        result = activation.run_campaign(CAMPAIGN, [CAMPAIGN], right, run_id="r2")
        keys = [m["X-Hourglass-Key"] for m in smtp.messages]
    assert result["result_sent"] == len(keys) == len(set(keys)) == 20
    with Ledger(settings.ledger_path()) as ledger:
        assert ledger.counts(CAMPAIGN.name) == {"sent": 20}


def test_no_server_listening_fails_the_campaign_and_leaves_every_message_due(world):
    home, people = world
    write_audience(CAMPAIGN.name, people[:5])
    with pytest.raises(activation.ActivationError, match=r"cannot connect to the SMTP server 127\.0\.0\.1:\d+"):
        activation.run_campaign(CAMPAIGN, [CAMPAIGN], email_channels(free_port(), tls="off"), run_id="r1")
    assert_every_message_due_now(CAMPAIGN.name, 5)
    assert {status for status, _ in receipts(CAMPAIGN.name).values()} == {"failed"}


@pytest.mark.parametrize(
    ("settings_given", "error"),
    [
        ({"HOURGLASS_SMTP_TLS": "off", "HOURGLASS_SMTP_USERNAME": "u", "HOURGLASS_SMTP_PASSWORD": "geheim"},
         "a login over an unencrypted connection is refused"),
        ({"HOURGLASS_SMTP_STARTTLS": "true"}, "HOURGLASS_SMTP_STARTTLS is replaced by HOURGLASS_SMTP_TLS"),
        ({"HOURGLASS_SMTP_TLS": "sometimes"}, "HOURGLASS_SMTP_TLS must be one of starttls, implicit, off"),
        ({"HOURGLASS_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "HOURGLASS_SMTP_CA_FILE is not a file"),
        ({"HOURGLASS_SMTP_FROM": "Het Huis"}, "the sender \\(HOURGLASS_SMTP_FROM\\) is not usable"),
    ],
)  # fmt: skip
def test_email_settings_that_cannot_send_safely_fail_at_start(monkeypatch, settings_given, error):
    from hourglass.resources.channels import channel_resources

    monkeypatch.setenv("HOURGLASS_SMTP_HOST", "127.0.0.1")
    for name, value in settings_given.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=error) as err:
        channel_resources()
    assert "geheim" not in str(err.value)


def test_email_settings_allowed_by_name_load(monkeypatch):
    from hourglass.resources.channels import channel_resources

    given = {"HOURGLASS_SMTP_HOST": "127.0.0.1", "HOURGLASS_SMTP_TLS": "off", "HOURGLASS_SMTP_USERNAME": "u",
             "HOURGLASS_SMTP_PASSWORD": "p", "HOURGLASS_SMTP_ALLOW_PLAINTEXT_LOGIN": "true"}  # fmt: skip
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert channel_resources()["smtp"].allow_plaintext_login
    monkeypatch.setenv("HOURGLASS_SMTP_TLS", "implicit")
    assert channel_resources()["smtp"].port == 465  # implicit TLS's port unless HOURGLASS_SMTP_PORT says otherwise
