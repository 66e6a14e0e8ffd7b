"""One e-mail rule: the loader quarantines exactly the addresses activation would not send to."""

import duckdb
from conftest import write_landing

from hourglass import lake, landing
from hourglass.channels import valid_email
from hourglass.sources import CONTRACTS

ADDRESSES = [
    "jan@example.nl",
    "zoë@example.nl",
    "info@bäckerei.nl",
    "x@example.xn--p1ai",  # an internationalised top-level domain in A-labels
    "x@example.рф",
    "a@b.c",
    "a@b.123",
    "geen",
    "a@b",
    "@b.nl",
    "a@",
    "a@@b.nl",
    "jan devries@gmail.com",
    "a@b .nl",
]


def test_the_loader_and_the_send_check_agree_on_every_address(home):
    rows = [
        {
            "customer_id": f"C{i}",
            "email": email,
            "created_at": "2026-01-05T10:00:00",
            "updated_at": "2026-01-05T10:00:00",
        }
        for i, email in enumerate(ADDRESSES)
    ]
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", rows)
    landing.load_source(CONTRACTS["crm_customers"])
    quarantined = {
        reason
        for (reason,) in duckdb.sql(
            f"select raw_fields['email'] from read_parquet('{lake.quarantine_dataset('crm_customers')}/*/*.parquet')"
            " where reason = 'invalid e-mail in email'"
        ).fetchall()
    }
    assert {email: email not in quarantined for email in ADDRESSES} == {
        email: valid_email(email) for email in ADDRESSES
    }
    assert quarantined and len(quarantined) < len(ADDRESSES)  # both kinds are in the list
