"""Message rendering: language choice with fallback, strict variables, stable keys."""

import jinja2
import pytest

from hourglass import messages

ROW = {"customer_key": "k1", "customer_id": "C1", "email": "a@b.nl", "first_name": "Sanne", "days_since_joining": 4}


@pytest.mark.parametrize(
    ("language", "starts"), [("nl", "Welkom"), ("en", "Welcome"), ("fr", "Welcome"), (None, "Welkom")]
)
def test_language_picks_the_template_with_english_then_dutch_as_fallback(language, starts):
    subject, body = messages.render("welcome_new_members", "email", ROW | {"language": language}, "welcome_new_members")
    assert subject.startswith(starts) and "Sanne" in subject
    assert "utm_campaign=welcome_new_members" in body and body.endswith("\n")


def test_a_column_missing_from_the_audience_fails_instead_of_sending_a_gap():
    row = {k: v for k, v in ROW.items() if k != "days_since_joining"} | {"language": "nl"}
    with pytest.raises(jinja2.UndefinedError, match="days_since_joining"):
        messages.render("welcome_new_members", "email", row, "welcome_new_members")


def test_message_key_is_stable_and_distinguishes_every_part():
    key = messages.message_key("c", "C1", "email", "2026-11-20")
    assert key == messages.message_key("c", "C1", "email", "2026-11-20")
    others = {
        messages.message_key("d", "C1", "email", "2026-11-20"),
        messages.message_key("c", "C2", "email", "2026-11-20"),
        messages.message_key("c", "C1", "sms", "2026-11-20"),
        messages.message_key("c", "C1", "email", "2026-11-21"),
    }
    assert key not in others and len(others) == 4
