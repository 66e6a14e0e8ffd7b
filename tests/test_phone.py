"""One phone rule, one set of vectors (fixtures/phone_vectors.csv: input, the row's country, expected E.164 or
empty when the input is no phone number), through both ways the rule is used: dbt staging (the macro as dbt
renders it, on landed CRM and lead files) and Python (the ad audiences' hashing and the SMS send-time check)."""

import csv
from pathlib import Path

import duckdb
from conftest import AS_OF, write_landing

from hourglass import landing, phone, settings
from hourglass.channels import valid_phone
from hourglass.channels.ads import normalise_phone
from hourglass.sources import CONTRACTS

with (Path(__file__).parent / "fixtures" / "phone_vectors.csv").open(encoding="utf-8", newline="") as fh:
    VECTORS = [(row["input"] or None, row["country"] or None, row["expected"] or None) for row in csv.DictReader(fh)]


def test_the_vectors_cover_the_cases():
    countries = {country for _, country, expected in VECTORS if expected}
    assert {None, "NL", "BE", "DE"} <= {c and c.upper() for c in countries}
    assert sum(expected is None for *_, expected in VECTORS) >= 15
    assert any(number and "(0)" in number for number, *_ in VECTORS)


def test_python_normalises_the_vectors():
    numbers, countries, expected = zip(*VECTORS, strict=True)
    assert phone.normalise(numbers, countries) == list(expected)


def test_the_normal_form_is_what_the_rule_writes_and_the_sms_check_accepts():
    written = [expected for *_, expected in VECTORS if expected]
    assert phone.normalise(written) == written  # normalising again changes nothing
    assert all(valid_phone(number) for number in written)
    # A raw number is valid for SMS only when it already is in normal form: '+310201234567' is not.
    for number, _, expected in VECTORS:
        assert valid_phone(number) == (number is not None and number == expected), number


def test_ad_audiences_hash_the_rules_number():
    for number, country, expected in VECTORS:
        assert normalise_phone(number, "google_ads", country) == (expected or ""), number
        assert normalise_phone(number, "meta_ads", country) == (expected or "").removeprefix("+"), number


def test_staging_normalises_the_vectors(home, dbt_manifest, monkeypatch):
    """The CRM carries a country for numbers written nationally; leads have none, so theirs are Dutch."""
    from hourglass.project import DbtCli, dbt_project

    stamp = "2026-11-01T10:00:00"
    crm = [
        {"customer_id": f"C{i:07d}", "phone": number, "country": country, "created_at": stamp, "updated_at": stamp}
        for i, (number, country, _) in enumerate(VECTORS)
    ]
    leads = [
        {"lead_id": f"L{i:07d}", "phone": number, "created_at": stamp}
        for i, (number, country, _) in enumerate(VECTORS)
        if country is None
    ]
    write_landing(home, "crm_customers", f"crm_customers_{AS_OF}.csv", crm)
    write_landing(home, "leads", f"leads_{AS_OF}.csv", leads)
    for source in ("crm_customers", "leads"):
        (result,) = landing.load_source(CONTRACTS[source])
        assert result.rows_quarantined == 0
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
    DbtCli(project_dir=dbt_project).cli(
        [
            "build",
            "--select",
            "ref_languages stg_crm_customers stg_leads",
            "--exclude-resource-type",
            "test",
            "unit_test",
        ],
        raise_on_error=True,
        target_path=home / "dbt-target",
    ).wait()

    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        staged = dict(con.sql("select customer_id, phone from stg_crm_customers").fetchall())
        staged_leads = dict(con.sql("select lead_id, phone from stg_leads").fetchall())
    assert [staged[row["customer_id"]] for row in crm] == [expected for *_, expected in VECTORS]
    assert [staged_leads[row["lead_id"]] for row in leads] == [e for _, c, e in VECTORS if c is None]
