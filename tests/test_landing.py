"""Landing files -> lake: contract checks, quarantine accounting, schema drift, idempotent reloads."""

import duckdb
import pytest
from conftest import write_landing

from hourglass import lake, landing
from hourglass.sources import CONTRACTS

CRM = CONTRACTS["crm_customers"]
ERP = CONTRACTS["erp_orders"]


def crm_row(customer_id: str, **values) -> dict:
    return {
        "customer_id": customer_id,
        "created_at": "2026-01-05T10:00:00",
        "updated_at": "2026-01-05T10:00:00",
    } | values


def lake_rows(source: str) -> list[tuple]:
    return duckdb.sql(f"select * from read_parquet('{lake.raw_glob(source)}', union_by_name = true)").fetchall()


def lake_df(source: str, dataset=lake.raw_dataset):
    return duckdb.sql(f"select * from read_parquet('{dataset(source)}/load_date=*/*.parquet')").df()


def test_bad_rows_are_quarantined_with_reason_and_counted(home):
    write_landing(
        home,
        "crm_customers",
        "crm_customers_2026-11-20.csv",
        [
            crm_row("C1", email=" Jan@Example.NL ", birth_date="01-05-1990", first_name="Zoë"),
            crm_row("C2", email="geen"),
            crm_row("", email="a@b.nl"),
            crm_row("C3", birth_date="31-02-2026"),
            crm_row("C4", household_children="twee"),
            crm_row("C5", last_name="van der\nBerg"),  # a quoted newline is data, not a broken row
        ],
        tail="C9,trunc",  # a truncated last line
    )
    (result,) = landing.load_source(CRM)

    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (7, 2, 5)
    assert result.reasons == {
        "invalid e-mail in email": 1,
        "missing required value in customer_id": 1,
        "not a valid date in birth_date": 1,
        "not a valid integer in household_children": 1,
        "unreadable line: MISSING COLUMNS": 1,
    }
    loaded = lake_df("crm_customers").set_index("customer_id")
    assert str(loaded.loc["C1", "birth_date"])[:10] == "1990-05-01"  # Dutch date format read
    assert loaded.loc["C1", "first_name"] == "Zoë"
    assert loaded.loc["C5", "last_name"] == "van der\nBerg"
    quarantine = lake_df("crm_customers", lake.quarantine_dataset)
    assert len(quarantine) == 5
    assert "C9,trunc" in set(quarantine["raw_line"])
    assert any(line.startswith("C2,") and "geen" in line for line in quarantine["raw_line"])


def test_dutch_erp_export_latin1_semicolons_decimal_commas(home):
    base = {
        "order_id": "O1",
        "line_no": "1",
        "customer_id": "C1",
        "order_at": "14-11-2026 19:30",
        "product_id": "TH-1",
        "product_name": "Café-concert",
        "category": "ticket",
        "quantity": "2",
        "unit_price": "1.234,50",
        "line_amount": "2.469,00",
        "currency": "EUR",
        "status": "completed",
        "updated_at": "14-11-2026 19:30",
    }
    bad_amount = base | {"order_id": "O2", "line_amount": "12,34,5"}
    write_landing(home, "erp_orders", "erp_orders_2026-11-20.csv", [base, bad_amount])
    (result,) = landing.load_source(ERP)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
    assert result.reasons == {"not a valid decimal in line_amount": 1}
    row = lake_df("erp_orders").iloc[0]
    assert float(row["unit_price"]) == 1234.50
    assert row["product_name"] == "Café-concert"
    assert str(row["order_at"]) == "2026-11-14 19:30:00"


def test_missing_required_column_fails_naming_file_and_column_and_keeps_the_lake(home):
    first = write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [crm_row("C1")])
    landing.load_source(CRM)
    before = lake_rows("crm_customers")

    columns = [c for c in CRM.column_names if c != "updated_at"]
    rows = [{k: v for k, v in crm_row("C2").items() if k != "updated_at"}]
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", rows, columns=columns)
    with pytest.raises(landing.LandingError) as err:
        landing.load_source(CRM)
    assert str(first) in str(err.value) and "'updated_at'" in str(err.value)
    assert lake_rows("crm_customers") == before


def test_new_column_flows_into_the_lake(home):
    write_landing(home, "crm_customers", "crm_customers_2026-11-19.csv", [crm_row("C1")])
    columns = [*CRM.column_names, "loyalty_tier"]
    write_landing(
        home, "crm_customers", "crm_customers_2026-11-20.csv", [crm_row("C2", loyalty_tier="goud")], columns=columns
    )
    landing.load_source(CRM)
    glob = lake.raw_glob("crm_customers")
    tiers = dict(
        duckdb.sql(f"select customer_id, loyalty_tier from read_parquet('{glob}', union_by_name=true)").fetchall()
    )
    assert tiers == {"C1": None, "C2": "goud"}


def test_reloading_a_load_date_replaces_it(home):
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [crm_row("C1"), crm_row("C2")])
    landing.load_source(CRM)
    (unchanged,) = landing.load_source(CRM)
    assert unchanged.skipped and unchanged.rows_loaded == 2

    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [crm_row("C1"), crm_row("C3")])
    (reloaded,) = landing.load_source(CRM)
    assert not reloaded.skipped
    assert sorted(r[0] for r in lake_rows("crm_customers")) == ["C1", "C3"]
    landing.load_source(CRM, force=True)
    assert sorted(r[0] for r in lake_rows("crm_customers")) == ["C1", "C3"]


def test_empty_file_loads_nothing_and_fails_nothing(home):
    path = home / "landing" / "social_mentions" / "social_mentions_2026-11-20_extra.csv"
    path.parent.mkdir(parents=True)
    path.touch()
    (result,) = landing.load_source(CONTRACTS["social_mentions"])
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)


def test_a_source_that_never_delivered_is_an_empty_typed_table(home, monkeypatch):
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", "2026-11-20")
    assert landing.load_source(CONTRACTS["social_mentions"]) == []
    rows = duckdb.sql(f"select * from read_parquet('{lake.raw_glob('social_mentions')}', hive_partitioning = true)")
    assert rows.fetchall() == []
    types = dict(zip(rows.columns, map(str, rows.types), strict=True))
    assert types["posted_at"] == "TIMESTAMP" and types["mention_id"] == "VARCHAR" and "load_date" in types
    # the first real delivery for that day replaces the placeholder
    mention = {"mention_id": "M1", "platform": "x", "handle": "@a", "posted_at": "2026-11-20T10:00:00"}
    write_landing(home, "social_mentions", "social_mentions_2026-11-20.csv", [mention])
    landing.load_source(CONTRACTS["social_mentions"])
    assert [r[0] for r in lake_rows("social_mentions")] == ["M1"]
