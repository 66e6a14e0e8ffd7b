"""The sample-data generator: contracts, encodings, planted defects and identity cases, determinism.

Everything is checked against the files as a loader would see them, parsed independently of the generator.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hourglass.sample.generator import generate, postcode_seed_csv
from hourglass.sample.generator.people import typed_phone
from hourglass.sample.generator.postcodes import SEED_PATH
from hourglass.sources import CONTRACTS

AS_OF = dt.date(2026, 3, 1)
CUSTOMERS = 300
SEED = 7


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate(out, CUSTOMERS, SEED, AS_OF)


@pytest.fixture(scope="module")
def out(run) -> Path:
    return run[0]


@pytest.fixture(scope="module")
def planted(out) -> dict:
    return json.loads((out / "_truth" / "planted.json").read_text(encoding="utf-8"))


def path_of(out: Path, source: str) -> Path:
    return out / source / f"{source}_{AS_OF.isoformat()}.csv"


def text_of(out: Path, source: str) -> str:
    contract = CONTRACTS[source]
    text = path_of(out, source).read_bytes().decode(contract.encoding)
    return text.removeprefix("\ufeff")


def rows_of(out: Path, source: str) -> list[dict[str, str]]:
    """Data rows as dicts; a short row (the truncated last one) keeps only the fields it has."""
    contract = CONTRACTS[source]
    reader = csv.reader(io.StringIO(text_of(out, source), newline=""), delimiter=contract.delimiter)
    header = next(reader)
    return [dict(zip(header, r, strict=False)) for r in reader]


def norm(email: str) -> str:
    return email.strip().lower()


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(out, tmp_path):
    again = tmp_path / "again"
    generate(again, CUSTOMERS, SEED, AS_OF)
    first, second = all_bytes(out), all_bytes(again)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    other = tmp_path / "other"
    generate(other, CUSTOMERS, SEED + 1, AS_OF)
    third = all_bytes(other)
    changed = [k for k in first if k.endswith(".csv") and first[k] and first[k] != third[k]]
    assert len(changed) == 9  # every non-empty landing file differs


def test_one_file_per_contract_with_the_contract_header(run):
    out, written = run
    expected = {f"{name}_{AS_OF.isoformat()}.csv" for name in CONTRACTS} | {f"social_mentions_{AS_OF}_extra.csv"}
    assert set(written) == expected
    for name, contract in CONTRACTS.items():
        first_line = text_of(out, name).split("\n", 1)[0]
        assert first_line.split(contract.delimiter) == list(contract.column_names), name


def test_every_row_has_the_contract_width_and_counts_match(run, planted):
    out, written = run
    for name, contract in CONTRACTS.items():
        rows = list(csv.reader(io.StringIO(text_of(out, name), newline=""), delimiter=contract.delimiter))[1:]
        widths = Counter(len(r) for r in rows)
        width = len(contract.column_names)
        if name == "esp_events":
            assert len(rows[-1]) < width, "the last ESP row is cut off"
            rows = rows[:-1]
        assert all(len(r) == width for r in rows), (name, widths)
        total = len(rows) + (1 if name == "esp_events" else 0)
        assert total == written[path_of(out, name).name] == planted["sources"][name]["rows"]
        src = planted["sources"][name]
        assert src["valid"] + sum(src["defects"].values()) == src["rows"]
        assert 0 < sum(src["defects"].values()) <= max(4, 0.02 * src["rows"]), name


def test_encodings_bom_latin1_and_dutch_number_format(out):
    esp = path_of(out, "esp_events").read_bytes()
    assert esp.startswith(b"\xef\xbb\xbf")
    assert not esp.endswith(b"\n")
    for name in CONTRACTS:
        if name != "esp_events":
            assert not path_of(out, name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    erp = path_of(out, "erp_orders").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        erp.decode("utf-8")  # really Latin-1, not UTF-8
    text = erp.decode("latin-1")
    assert text.split("\n", 1)[0].count(";") == len(CONTRACTS["erp_orders"].columns) - 1
    assert any(name in text for name in ("Zoë", "José", "Müller", "Façade", "Crème"))
    rows = rows_of(out, "erp_orders")
    assert sum(bool(re.fullmatch(r"-?\d+,\d\d", r["line_amount"])) for r in rows) > 0.95 * len(rows)
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4} \d\d:\d\d", r["updated_at"]) for r in rows)
    assert (out / "social_mentions" / f"social_mentions_{AS_OF}_extra.csv").read_bytes() == b""


def test_same_person_in_crm_and_esp_with_differently_typed_email(out):
    crm = {r["email"] for r in rows_of(out, "crm_customers") if r["email"]}
    esp = {r["email"] for r in rows_of(out, "esp_events") if r.get("email")}
    crm_by_norm = defaultdict(set)
    for e in crm:
        crm_by_norm[norm(e)].add(e)
    variants = [(c, e) for e in esp for c in crm_by_norm.get(norm(e), ()) if c != e]
    assert variants, "no address typed differently in CRM and ESP"
    crm = [r for r in rows_of(out, "crm_customers") if r["phone"]]
    phones = [r["phone"] for r in crm]
    national = [r["country"] for r in crm if r["phone"].startswith("0") and not r["phone"].startswith("00")]
    notations = {
        "06-": any(p.startswith("06-") for p in phones),
        "+31 6": any(p.startswith("+31 6 ") for p in phones),
        "0031": any(p.startswith("0031") for p in phones),
        "+31 (0)": any(p.startswith("+31 (0)") for p in phones),  # the trunk 0 kept after the country code
        "BE or DE, nationally": bool({"BE", "DE"} & set(national)),
    }
    assert all(notations.values()), notations
    # Where a record has no country (leads), a Belgian or German number carries its country code.
    nsn, mobile, country = pa.array(["470123456", "15123456789"] * 50), np.array([True] * 100), np.array([1, 2] * 50)
    typed = typed_phone(np.random.default_rng(1), nsn, mobile, country, national=False).to_pylist()
    assert all(t.startswith(("+32", "+49", "0032", "0049")) for t in typed), typed


def test_shared_addresses_link_many_persons_and_are_recorded(out, planted):
    shared = planted["identity"]["shared_emails"]
    assert len(shared) >= 2
    crm = rows_of(out, "crm_customers")
    persons = pq.read_table(out / "_truth" / "persons.parquet").to_pylist()
    person_of = {(r["source"], r["record_id"]): r["person_id"] for r in persons}
    for entry in shared:
        ids = {r["customer_id"] for r in crm if norm(r["email"]) == entry["email"]}
        people = {person_of[("crm_customers", i)] for i in ids}
        assert len(people) == entry["persons"] >= 5
        assert entry["records_by_source"]["crm_customers"] == sum(norm(r["email"]) == entry["email"] for r in crm)


def test_persons_truth_covers_every_record(out, planted):
    table = pq.read_table(out / "_truth" / "persons.parquet")
    assert table.column_names == ["source", "record_id", "person_id"]
    persons = table.to_pylist()
    by_source = defaultdict(set)
    for r in persons:
        by_source[r["source"]].add(r["record_id"])
    assert by_source["crm_customers"] == {r["customer_id"] for r in rows_of(out, "crm_customers")}
    assert by_source["leads"] == {r["lead_id"] for r in rows_of(out, "leads")}
    assert by_source["erp_orders"] == {r["order_id"] for r in rows_of(out, "erp_orders")}
    assert by_source["ga4_web"] == {r["visitor_id"] for r in rows_of(out, "ga4_web")}
    esp_subscribers = {r["subscriber_id"] for r in rows_of(out, "esp_events")[:-1]}
    assert esp_subscribers <= by_source["esp_events"]
    sources_of = defaultdict(set)
    for r in persons:
        if r["person_id"] is not None:
            sources_of[r["person_id"]].add(r["source"])
    identity = planted["identity"]
    assert sum(len(s) > 1 for s in sources_of.values()) == identity["persons_in_more_than_one_source"]
    assert len(sources_of) <= identity["persons"] == CUSTOMERS
    crm_people = {r["person_id"] for r in persons if r["source"] == "crm_customers"}
    assert len(crm_people) == identity["persons_with_crm_record"]
    assert 0.7 * CUSTOMERS < len(crm_people) < 0.9 * CUSTOMERS
    lead_people = {r["person_id"] for r in persons if r["source"] == "leads"}
    assert lead_people & crm_people, "some leads became customers"
    assert lead_people - crm_people, "some leads are prospects only"


def test_abandoned_signups_match_web_and_orders(out, planted):
    persons = pq.read_table(out / "_truth" / "persons.parquet").to_pylist()
    person_of = {(r["source"], r["record_id"]): r["person_id"] for r in persons}
    starts, completes = defaultdict(list), set()
    for r in rows_of(out, "ga4_web"):
        m = re.fullmatch(r"/workshops/([a-z0-9-]+)/aanmelden(/bedankt)?", r["page_path"])
        if r["event_name"] == "workshop_signup_start":
            assert m and not m.group(2)
            starts[(r["visitor_id"], m.group(1))].append(dt.date.fromisoformat(r["date"]))
        elif r["event_name"] == "workshop_signup_complete":
            completes.add((r["visitor_id"], m.group(1)))
    registrations = defaultdict(list)
    for r in rows_of(out, "erp_orders"):
        if r["category"] == "workshop" and r["status"] == "completed":
            who = person_of[("erp_orders", r["order_id"])]
            day = dt.datetime.strptime(r["order_at"], "%d-%m-%Y %H:%M").date()
            registrations[(who, r["product_id"].removeprefix("WS-"))].append(day)
    abandoned = {k: max(v) for k, v in starts.items() if k not in completes}
    later = [
        k
        for k, last in abandoned.items()
        if any(d >= last for d in registrations.get((person_of[("ga4_web", k[0])], k[1]), ()))
    ]
    recent = [k for k, last in abandoned.items() if last >= AS_OF - dt.timedelta(days=7)]
    funnel = planted["web_funnel"]
    assert funnel["abandoned_signups"] == len(abandoned) > 0
    assert funnel["abandoned_visitors"] == len({v for v, _ in abandoned})
    assert funnel["registered_later"] == len(later) > 0
    assert funnel["recent_abandoned_signups"] == len(recent) > 0
    assert funnel["completed_signups"] == len(completes) > 0


def test_postcode_seed_is_up_to_date_and_covers_the_crm(out):
    assert SEED_PATH.read_text(encoding="utf-8") == postcode_seed_csv(), (
        "run hourglass.sample.generator.write_postcode_seed()"
    )
    seed = list(csv.DictReader(io.StringIO(postcode_seed_csv())))
    assert list(seed[0]) == ["postcode4", "city", "province", "region", "urbanity", "income_band"]
    by_code = {r["postcode4"]: r for r in seed}
    assert len(by_code) == len(seed)
    assert by_code["1011"]["city"] == "Amsterdam" and by_code["3011"]["city"] == "Rotterdam"
    assert {r["urbanity"] for r in seed} == {"1", "2", "3", "4", "5"}
    assert {r["income_band"] for r in seed} == {"low", "below_average", "average", "above_average", "high"}
    codes = [r["postcode"] for r in rows_of(out, "crm_customers") if r["postcode"]]
    assert codes and all(re.fullmatch(r"\d{4} ?[A-Za-z]{2}", c) for c in codes)
    assert {c[:4] for c in codes} <= set(by_code)


def test_planted_counts_match_an_independent_parse(out, planted):
    src = planted["sources"]
    nps = rows_of(out, "nps_responses")
    out_of_range = [r for r in nps if not (r["score"].lstrip("-").isdigit() and 0 <= int(r["score"]) <= 10)]
    assert len(out_of_range) == src["nps_responses"]["defects"]["out_of_range_score"] > 0
    assert sum("\n" in r["comment"] for r in nps) == src["nps_responses"]["valid_variants"]["multiline_comment"] > 0
    social = rows_of(out, "social_mentions")
    assert sum("\n" in r["text"] for r in social) == src["social_mentions"]["valid_variants"]["multiline_text"] > 0

    erp = rows_of(out, "erp_orders")
    amount = re.compile(r"-?\d+,\d\d")
    not_numeric = [r for r in erp if not (amount.fullmatch(r["unit_price"]) and amount.fullmatch(r["line_amount"]))]
    assert len(not_numeric) == src["erp_orders"]["defects"]["non_numeric_amount"] > 0
    negative = [r for r in erp if r["status"] == "completed" and r["line_amount"].startswith("-")]
    assert len(negative) == src["erp_orders"]["defects"]["negative_amount"] > 0
    refunds = [r for r in erp if r["status"] == "refunded"]
    assert refunds and all(r["line_amount"].startswith("-") for r in refunds)
    assert any(r["customer_id"] == "" and r["email"] for r in erp), "guest orders"

    esp = rows_of(out, "esp_events")
    lines = text_of(out, "esp_events").split("\n")
    assert (
        sum(a == b for a, b in zip(lines[1:], lines[2:], strict=False))
        == src["esp_events"]["defects"]["exact_duplicate"]
        > 0
    )
    assert src["esp_events"]["defects"]["truncated_row"] == 1
    assert sum(r.get("event_at") == "" for r in esp[:-1]) == src["esp_events"]["defects"]["missing_required"]

    crm = rows_of(out, "crm_customers")
    assert len(crm) - len({r["customer_id"] for r in crm}) == src["crm_customers"]["valid_variants"]["older_version"]
    valid = re.compile(r"\s*[^@\s]+@[^@\s]+\.[a-z]{2,}\s*", re.I)
    bad_email = [r for r in crm if r["email"] and not valid.fullmatch(r["email"])]
    assert len(bad_email) == src["crm_customers"]["defects"]["invalid_email"]


def test_segments_consents_and_seasonality_exist(out):
    crm = rows_of(out, "crm_customers")
    ages = [
        (AS_OF - dt.date.fromisoformat(r["birth_date"])).days / 365.25
        for r in crm
        if re.fullmatch(r"\d{4}-\d\d-\d\d", r["birth_date"])
    ]
    assert 0.08 < sum(16 <= a < 31 for a in ages) / len(ages) < 0.25
    dinks = [r for r in crm if r["household_partner"] == "true" and r["household_children"] == "0"]
    assert dinks
    assert Counter(r["language"] for r in crm).most_common(1)[0][0] == "nl"
    assert {"en"} <= {r["language"] for r in crm}
    consent = [(r["consent_email_marketing"], r["consent_email_marketing_at"]) for r in crm]
    assert any(v == "false" and at for v, at in consent), "withdrawn consent"
    assert any(v == "" and at == "" for v, at in consent), "never asked"
    assert any(v == "true" and at for v, at in consent)
    months = Counter(r["order_at"][3:5] for r in rows_of(out, "erp_orders") if re.match(r"\d\d-\d\d-", r["order_at"]))
    assert months["12"] > 2 * months["07"]


def test_lapsing_regulars_keep_their_magazine_and_stopped_buying(out, planted):
    """The churn-risk campaign's people: an active magazine, six or more orders on days of their own about a month
    apart, and none for the last three to four of those months."""
    persons = pq.read_table(out / "_truth" / "persons.parquet").to_pylist()
    person_of = {(r["source"], r["record_id"]): r["person_id"] for r in persons}
    newest = {}
    for r in rows_of(out, "subscriptions"):
        if r["updated_at"] >= newest.get(r["subscription_id"], {}).get("updated_at", ""):
            newest[r["subscription_id"]] = r
    magazine = {
        person_of[("subscriptions", i)]
        for i, r in newest.items()
        if r["status"] == "active" and r["product"].startswith("magazine")
    }
    days = defaultdict(set)
    for r in rows_of(out, "erp_orders"):
        try:
            day = dt.datetime.strptime(r["order_at"], "%d-%m-%Y %H:%M").date()
        except ValueError:  # a planted unparseable date
            continue
        if r["status"] == "completed":
            days[person_of[("erp_orders", r["order_id"])]].add(day)
    lapsing = [
        who
        for who in magazine
        if len(days[who]) >= 6 and 3 * 28 <= (AS_OF - max(days[who])).days <= 4 * 42
        and all(18 <= (b - a).days <= 52 for a, b in pairwise(sorted(days[who])))
    ]  # fmt: skip
    assert len(lapsing) >= planted["sources"]["subscriptions"]["facts"]["lapsing_regulars_with_active_magazine"] > 0


def test_past_campaigns_land_as_receipts_and_match_their_truth(out, planted):
    """The campaign history (history.py): receipts in the activation's schema under landing/activation_receipts,
    one partition per send window, whose treated and held-out rows per campaign (a person once per send window, as
    campaign_effect_overall counts them) are what planted.json says."""
    from hourglass.activation import RECEIPT_SCHEMA

    files = sorted((out / "activation_receipts").glob("load_date=*/*.parquet"))
    assert files
    rows = []
    for path in files:
        table = pq.read_table(path)
        assert table.schema.remove_metadata().equals(RECEIPT_SCHEMA)
        assert {str(d) for d in table.column("send_window").to_pylist()} == {path.parent.name.split("=")[1]}
        rows += table.to_pylist()
    entries = {}  # (campaign, customer, window) -> held_out, else sent if anything went out (int_campaign_outcomes)
    for r in sorted(rows, key=lambda r: r["status"] != "held_out"):
        if r["status"] in ("sent", "held_out"):
            entries.setdefault((r["campaign"], r["customer_key"], r["send_window"]), r["status"])
    truth = planted["campaign_history"]["campaigns"]
    for name, t in truth.items():
        mine = {(key, window): status for (campaign, key, window), status in entries.items() if campaign == name}
        groups = Counter(mine.values())
        assert (groups["sent"], groups["held_out"]) == (t["treated"], t["held_out"]), name
        people = {status: {key for (key, _), s in mine.items() if s == status} for status in ("sent", "held_out")}
        assert (len(people["sent"]), len(people["held_out"])) == (t["treated_people"], t["held_out_people"]), name
        windows = {window for _, window in mine}
        assert len(windows) == t["send_windows"] and max(windows).isoformat() == t["last_send_window"]
    assert [t["planted_uplift"] for t in truth.values() if t["direction"] == "none"] == [0.0]
    positive = [t["planted_uplift"] for t in truth.values() if t["direction"] == "positive"]
    assert min(positive) >= 0 and sum(u > 0 for u in positive) >= 3  # a tiny campaign may draw no effect
