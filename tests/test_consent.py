"""Consent has one definition (dbt_project/macros/consent.sql) for the audiences and the send-time check, and fails
closed. Each world lands real files through the real loader into the lake; the send-time cases run a real
campaign (to the outbox) and read the reason off its receipts.
"""

import itertools
from dataclasses import replace
from datetime import timedelta

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import AS_OF, write_landing
from test_activation import ABANDONERS, channels, land, person, receipts, write_audience

from hourglass import activation, lake, landing, model_steps, settings
from hourglass.consent import current_consent
from hourglass.sources import CONSENT_PURPOSES, CONTRACTS

CAMPAIGN = replace(ABANDONERS, holdout_share=0.0, cooldown_days=0)
DAY1, DAY2 = AS_OF - timedelta(days=2), AS_OF - timedelta(days=1)
RUNS = itertools.count()


def at(day, clock: str = "08:00") -> str:
    return f"{day}T{clock}:00"


def version(i: int, day, **changes) -> dict:
    """Person i's CRM record as updated on `day`, their consents decided then."""
    moment = at(day)
    stamps = {"updated_at": moment, "consent_email_marketing_at": moment, "consent_sms_marketing_at": moment}
    return person(i, **{**stamps, **changes})


def email_of(i: int) -> str:
    return person(i)["email"]


def esp(event_id: str, subscriber: str, address: str, kind: str, moment: str) -> dict:
    return {"event_id": event_id, "subscriber_id": subscriber, "email": address, "event_type": kind, "event_at": moment}


@pytest.fixture
def home(home, monkeypatch):
    """conftest's temporary HOURGLASS_HOME, on the send day at 10:00."""
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
    monkeypatch.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
    return home


def send(people: list[dict]) -> dict[str, tuple[str, str | None]]:
    """Run the campaign over these people; customer_key -> (status, reason) from its receipts."""
    write_audience(CAMPAIGN.name, people)
    activation.run_campaign(CAMPAIGN, [CAMPAIGN], channels(), run_id=f"r{next(RUNS)}")
    return receipts(CAMPAIGN.name)


def quarantine_reasons(source: str) -> list[str]:
    glob = lake.files_glob(lake.quarantine_dataset(source))
    return [r for (r,) in duckdb.sql(f"select reason from read_parquet('{glob}') order by all").fetchall()]


def test_an_esp_unsubscribe_counts_whatever_its_case_and_spaces(home):
    """(a) The ESP writes `Unsubscribe`: a withdrawal all the same, also where it names only the subscriber id."""
    people = [person(1), person(2), person(3)]  # e-mail consent granted at 08:00
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    events = [
        esp("E1", "S1", email_of(1), "Unsubscribe", at(AS_OF, "09:00")),
        esp("E2", "S2", email_of(2), "open", at(AS_OF, "08:30")),  # how the ESP knows S2's address
        esp("E3", "S2", "", " SPAM_COMPLAINT ", at(AS_OF, "09:00")),
    ]
    land(home, "esp_events", f"esp_events_{AS_OF}.csv", events)
    assert send(people) == {
        "k-C0001": ("suppressed", "no_consent"),
        "k-C0002": ("suppressed", "no_consent"),
        "k-C0003": ("sent", None),
    }


def test_a_withdrawal_in_a_quarantined_crm_row_holds_until_a_clean_row_arrives(home):
    """(b) The newest CRM version withdraws but is quarantined for its birth date: not the older grant, unclear."""
    granted = [version(1, DAY1), person(2)]
    land(home, "crm_customers", f"crm_customers_{DAY1}.csv", granted)
    withdrawn = version(1, DAY2, consent_email_marketing="0")
    land(home, "crm_customers", f"crm_customers_{DAY2}.csv", [{**withdrawn, "birth_date": "31-02-1980"}])
    assert quarantine_reasons("crm_customers") == ["not a valid date in birth_date"]
    assert send(granted) == {"k-C0001": ("suppressed", "consent_unclear"), "k-C0002": ("sent", None)}

    # The next export delivers the record clean: its decision stands, the quarantined row no longer counts.
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", [withdrawn])
    assert send(granted)["k-C0001"] == ("suppressed", "no_consent")


def test_a_crm_grant_without_its_own_time_never_overrides_an_unsubscribe(home):
    """(c) A profile update after an unsubscribe still says yes, with no consent time: the unsubscribe stands."""
    unstamped = {"updated_at": at(AS_OF, "09:30"), "consent_email_marketing_at": ""}
    people = [person(1, **unstamped), person(2, **unstamped)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    land(
        home, "esp_events", f"esp_events_{AS_OF}.csv", [esp("E1", "S1", email_of(1), "unsubscribe", at(AS_OF, "09:00"))]
    )
    # Where nothing was withdrawn, the unstamped yes is a yes.
    assert send(people) == {"k-C0001": ("suppressed", "no_consent"), "k-C0002": ("sent", None)}


def test_a_consent_time_that_does_not_parse_leaves_the_consent_unclear(home):
    granted = [version(1, DAY1), person(2)]
    land(home, "crm_customers", f"crm_customers_{DAY1}.csv", granted)
    later = version(1, AS_OF, consent_email_marketing="0", consent_email_marketing_at="31-02-2026 10:15")
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", [later, person(2)])
    assert quarantine_reasons("crm_customers") == ["not a valid timestamp in consent_email_marketing_at"]
    assert send(granted) == {"k-C0001": ("suppressed", "consent_unclear"), "k-C0002": ("sent", None)}


def test_quarantined_esp_withdrawals_and_unreadable_lines_leave_e_mail_consent_unclear(home):
    people = [person(i) for i in range(1, 6)]
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", people)
    events = [
        esp("E1", "S1", email_of(1), "unsubscribe", "gisteren"),  # its time does not parse
        esp("E2", "S2", email_of(2), "open", at(AS_OF, "08:30")),
        esp("E3", "S2", "persoon2@", "unsubscribe", at(AS_OF, "09:00")),  # a broken address: the id names S2
        esp("E4", "S4", email_of(4), "click", "gisteren"),  # quarantined, but no withdrawal
    ]
    # A line the reader cannot split (a field too many) that holds an unsubscribe.
    tail = f"E5,S5,{email_of(5)},unsubscribe,{at(AS_OF, '09:00')},,,,x\r\n"
    write_landing(home, "esp_events", f"esp_events_{AS_OF}.csv", events, tail=tail)
    (loaded,) = landing.load_source(CONTRACTS["esp_events"], force=True)
    assert loaded.rows_quarantined == 4
    assert send(people) == {
        "k-C0001": ("suppressed", "consent_unclear"),
        "k-C0002": ("suppressed", "consent_unclear"),
        "k-C0003": ("sent", None),
        "k-C0004": ("sent", None),
        "k-C0005": ("suppressed", "consent_unclear"),
    }


def test_a_decision_made_after_the_quarantined_day_settles_it_and_only_the_touched_consent_is_unclear(home):
    """A quarantined CRM row that carries only SMS consent leaves e-mail alone; a lead form stamped after the
    day a quarantined e-mail withdrawal landed decides again."""
    land(home, "crm_customers", f"crm_customers_{DAY1}.csv", [version(1, DAY1), version(2, DAY1)])
    sms_only = version(1, DAY2, consent_email_marketing="", consent_email_marketing_at="", birth_date="gisteren")
    withdrawn = version(2, DAY2, consent_email_marketing="0", birth_date="gisteren")
    land(home, "crm_customers", f"crm_customers_{DAY2}.csv", [sms_only, withdrawn])
    rows = [{"customer_key": f"k{i}", "customer_id": f"C{i:04d}", "email": email_of(i)} for i in (1, 2)]
    before = current_consent(rows)
    assert before["k1"].granted == {"email_marketing"} and before["k1"].unclear == {"sms_marketing"}
    assert before["k2"].unclear == {"email_marketing", "sms_marketing"}

    form = {"lead_id": "L1", "email": email_of(2), "created_at": at(AS_OF, "09:00"), "consent_email_marketing": "ja",
            "consent_email_marketing_at": at(AS_OF, "09:00")}  # fmt: skip
    land(home, "leads", f"leads_{AS_OF}.csv", [form])
    after = current_consent(rows)
    assert after["k2"].granted == {"email_marketing"} and after["k2"].unclear == {"sms_marketing"}
    # A form stamped on the day the withdrawal landed does not settle it: the withdrawal may have come later.
    land(home, "leads", f"leads_{AS_OF}.csv", [{**form, "consent_email_marketing_at": at(DAY2, "23:00")}])
    assert current_consent(rows)["k2"].unclear == {"email_marketing", "sms_marketing"}


def test_a_quarantined_lead_form_leaves_its_address_unclear(home):
    forms = [
        {"lead_id": "L1", "email": email_of(1), "created_at": at(DAY1), "consent_email_marketing": "1",
         "consent_email_marketing_at": at(DAY1)},
        {"lead_id": "L2", "email": email_of(1), "created_at": "", "consent_email_marketing": "0"},
        {"lead_id": "L3", "email": email_of(2), "created_at": at(DAY1), "consent_email_marketing": "1"},
    ]  # fmt: skip
    land(home, "leads", f"leads_{AS_OF}.csv", forms)
    assert quarantine_reasons("leads") == ["missing required value in created_at"]
    rows = [{"customer_key": f"k{i}", "customer_id": None, "email": email_of(i)} for i in (1, 2)]
    consent = current_consent(rows)
    assert consent["k1"].unclear == {"email_marketing"} and consent["k2"].granted == {"email_marketing"}


# --- one definition: the audiences (dbt) and the send-time check agree -----------------------------------------


def _agreement_world(home) -> dict[str, str]:
    """People covering the rules, landed over three days: CRM id (or a lead's address) -> e-mail consent."""
    crm = {DAY1: [], DAY2: [], AS_OF: []}
    leads, events, expected = [], [], {}

    def record(i, day=AS_OF, **changes):
        crm[changes.pop("landed", day)].append(
            person(
                i, **{"created_at": at(DAY1), "updated_at": at(day), "consent_email_marketing_at": at(day), **changes}
            )
        )

    def form(lead_id, address, created_at, flag, flag_at=""):
        leads.append({"lead_id": lead_id, "email": address, "created_at": created_at,
                      "consent_email_marketing": flag, "consent_email_marketing_at": flag_at})  # fmt: skip

    record(1, consent_sms_marketing="0", consent_ads_personalisation="1", consent_ads_personalisation_at="")
    expected["C0001"] = "granted"  # and ads (unstamped, nothing refused), not SMS
    record(2)
    events.append(esp("E2", "S2", email_of(2).upper(), " Unsubscribe", at(AS_OF, "09:00")))
    expected["C0002"] = "no"
    record(3, updated_at=at(AS_OF, "09:30"), consent_email_marketing_at="")
    events.append(esp("E3", "S3", email_of(3), "unsubscribe", at(AS_OF, "09:00")))
    expected["C0003"] = "no"
    record(4, DAY1)
    record(4, DAY2, consent_email_marketing="0", birth_date="31-02-1980")  # and not in today's export
    expected["C0004"] = "unclear"
    record(5, DAY1)
    record(5, DAY2, consent_email_marketing="0", consent_email_marketing_at="gisteren")
    expected["C0005"] = "unclear"
    record(6, DAY1)
    record(6, DAY2, consent_email_marketing="0", birth_date="31-02-1980")
    record(6, DAY2, consent_email_marketing="0", landed=AS_OF)  # delivered clean again today
    expected["C0006"] = "no"
    record(7)
    events += [esp("E7a", "S7", email_of(7), "open", at(AS_OF, "08:10")),
               esp("E7b", "S7", "", "spam_complaint", at(AS_OF, "09:00"))]  # fmt: skip
    expected["C0007"] = "no"
    record(8, consent_email_marketing="nee")
    form("L8", f"  {email_of(8).upper()}", at(AS_OF, "09:00"), "yes", at(AS_OF, "09:00"))
    expected["C0008"] = "granted"
    form("L9", "lead9@example.nl", at(AS_OF), "1", at(AS_OF))
    expected["lead9@example.nl"] = "granted"
    form("L10", "lead10@example.nl", at(DAY1), "1", at(DAY1))
    form("L11", "lead10@example.nl", "morgen", "0")
    expected["lead10@example.nl"] = "unclear"
    record(12, consent_email_marketing="")
    expected["C0012"] = "no"  # never asked

    for day, rows in crm.items():
        write_landing(home, "crm_customers", f"crm_customers_{day}.csv", rows)
    write_landing(home, "leads", f"leads_{AS_OF}.csv", leads)
    write_landing(home, "esp_events", f"esp_events_{AS_OF}.csv", events)
    for contract in CONTRACTS.values():
        landing.load_source(contract, force=True)
    return expected


def test_the_audiences_and_the_send_time_check_agree_on_consent(home, dbt_manifest):
    from hourglass.project import DbtCli, dbt_project

    expected = _agreement_world(home)
    activation.ensure_receipts()
    settings.ensure_audience_dir()
    dbt = DbtCli(project_dir=dbt_project)
    with settings.child_environment(HOURGLASS_AS_OF_DATE=AS_OF.isoformat()):
        model_steps.dbt_build(
            lambda args: dbt.cli(args, raise_on_error=True, target_path=home / "dbt-target").wait(),
            "+welcome_new_members", "--exclude-resource-type", "test", "unit_test", day=AS_OF,
        )  # fmt: skip
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        found = con.sql("select * from customer_360")
        warehouse = [dict(zip(found.columns, row, strict=True)) for row in found.fetchall()]
    welcome = {r["customer_key"] for r in activation.read_audience("welcome_new_members")}
    people = [{"customer_key": r["customer_key"], "customer_id": r["crm_customer_id"], "email": r["email"]}
              for r in warehouse]  # fmt: skip
    send_time = current_consent(people)
    purposes = CONSENT_PURPOSES
    found = {}
    for row in warehouse:
        consent = send_time[row["customer_key"]]
        # The same consents granted and the same people unclear on both sides.
        assert {p for p in purposes if row[f"consent_{p}"]} == consent.granted, row
        assert row["has_unclear_consent"] == bool(consent.unclear), row
        # The welcome audience (new CRM customers with e-mail consent) holds exactly those the send would reach.
        if row["crm_customer_id"]:
            assert (row["customer_key"] in welcome) == ("email_marketing" in consent), row
        email = (
            "granted" if "email_marketing" in consent else "unclear" if "email_marketing" in consent.unclear else "no"
        )
        found[row["crm_customer_id"] or row["email"]] = email
    assert {name: state for name, state in found.items() if name in expected} == expected
    first = next(r["customer_key"] for r in warehouse if r["crm_customer_id"] == "C0001")
    assert send_time[first].granted == {"email_marketing", "ads_personalisation"}


def test_a_quarantine_from_before_raw_fields_were_kept_still_fails_closed(home):
    """A lake loaded by an older loader: its quarantine files have only the raw line; their rows count as lines
    that could not be split, so the person they name is unclear rather than decided by the older grant."""
    land(home, "crm_customers", f"crm_customers_{DAY1}.csv", [version(1, DAY1), version(2, DAY1)])
    land(home, "crm_customers", f"crm_customers_{AS_OF}.csv", [version(1, AS_OF, consent_email_marketing="0",
                                                                        birth_date="gisteren")])  # fmt: skip
    quarantine = lake.quarantine_dataset("crm_customers")
    for path in quarantine.glob("load_date=*/*.parquet"):
        table = pq.read_table(path)
        if table.num_rows:
            pq.write_table(table.drop_columns(["raw_fields"]), path)
        else:
            path.unlink()  # the zero-row file with today's columns is not there yet either
    rows = [{"customer_key": f"k{i}", "customer_id": f"C{i:04d}", "email": email_of(i)} for i in (1, 2)]
    consent = current_consent(rows)
    assert consent["k1"].unclear == set(CONSENT_PURPOSES) and consent["k2"].granted == {
        "email_marketing",
        "sms_marketing",
    }
