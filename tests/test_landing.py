"""Landing files -> lake: contract checks, quarantine accounting, schema drift, idempotent reloads."""

import dataclasses

import duckdb
import pytest
from conftest import write_landing

from hourglass import lake, landing
from hourglass.landing import checked_rows, contract_sql, load_dates
from hourglass.sources import CONTRACTS, Column

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
    stray_dots = base | {"order_id": "O3", "line_amount": "1.2.3"}  # not 123: dots group thousands only
    write_landing(home, "erp_orders", "erp_orders_2026-11-20.csv", [base, bad_amount, stray_dots])
    (result,) = landing.load_source(ERP)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)
    assert result.reasons == {"not a valid decimal in line_amount": 2}
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


def test_optional_columns_missing_from_a_file_land_empty_with_their_type(home):
    columns = ["customer_id", "email", "created_at", "updated_at"]  # an export with the required columns only
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", [crm_row("C1")], columns=columns)
    (result,) = landing.load_source(CRM)
    assert result.rows_loaded == 1
    glob = lake.raw_glob("crm_customers")
    described = {
        name: kind for name, kind, *_ in duckdb.sql(f"describe select * from read_parquet('{glob}')").fetchall()
    }
    assert set(CRM.column_names) <= set(described)
    assert described["consent_ads_personalisation"] == "BOOLEAN" and described["birth_date"] == "DATE"
    assert duckdb.sql(f"select consent_ads_personalisation, phone from read_parquet('{glob}')").fetchall() == [
        (None, None)
    ]


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


def esp_row(event_id: str, **values) -> dict:
    return {
        "event_id": event_id,
        "subscriber_id": "S1",
        "email": "a@example.nl",
        "event_type": "send",
        "event_at": "2026-11-20T08:00:00",
    } | values


def test_a_repeated_key_keeps_its_first_occurrence_in_file_order_across_batches(home, monkeypatch):
    monkeypatch.setattr(checked_rows, "_BATCH_ROWS", 1024)  # the file spans several batches
    rows = [esp_row(f"E{i}") for i in range(5000)]
    rows[10] = esp_row("E10", email="geen")  # bad for another reason, still the first E10
    rows[4000] = esp_row("E10", subscriber_id="S2")  # a later E10: the duplicate, though it is valid
    rows[4500] = esp_row("E11", event_at="nooit")  # a repeat with its own problem keeps that reason
    rows[4999] = esp_row("E4999 ")  # the key is compared as delivered: a trailing space makes it another key
    write_landing(home, "esp_events", "esp_events_2026-11-20.csv", rows + [esp_row("E3"), esp_row("E4999 ")])
    (result,) = landing.load_source(CONTRACTS["esp_events"])
    assert result.reasons == {
        "invalid e-mail in email": 1,
        "duplicate of an earlier event_id": 3,
        "not a valid timestamp in event_at": 1,
    }
    assert (result.rows_in, result.rows_loaded) == (5002, 4997)
    quarantine = lake_df("esp_events", lake.quarantine_dataset).sort_values("row_number")
    assert list(quarantine["row_number"]) == [11, 4001, 4501, 5001, 5002]
    assert list(quarantine["reason"])[1] == "duplicate of an earlier event_id"
    assert list(quarantine["raw_line"])[1] == "E10,S2,a@example.nl,send,2026-11-20T08:00:00,,,"
    loaded = lake_df("esp_events")
    assert loaded.loc[loaded["event_id"] == "E4999 ", "subscriber_id"].tolist() == ["S1"]
    assert loaded.loc[loaded["event_id"] == "E3", "subscriber_id"].tolist() == ["S1"]


def test_clean_values_are_trimmed_exactly_like_trim(home):
    """The shortcut in _clean skips trim() only where trim() would change nothing."""
    values = ["a", " a", "a ", "  ", "", "\ta\t", "a\u00a0", "\u3000a", "\u00a0", "é", "é ", " é", "e\u0301",
              "a\u2003", "\u1680a", "!", "~", "\x7f", "a b", "\ufeffa", "a\n", "日本 ", "x@y.nl"]  # fmt: skip
    con = duckdb.connect()
    con.execute("create table t (v varchar)")
    con.executemany("insert into t values (?)", [[v] for v in values] + [[None]])
    pairs = con.execute(f"select v, {contract_sql._clean('v')}, nullif(trim(v), '') from t").fetchall()
    assert [(v, fast) for v, fast, _ in pairs] == [(v, exact) for v, _, exact in pairs]


def test_a_file_the_parser_gives_up_on_midway_fails_clearly(home):
    """Without a duplicate-key pass the parser's error arrives through the Arrow stream; it is still named."""
    row = {"order_id": "O1", "line_no": "1", "order_at": "14-11-2026 19:30", "product_id": "TH-1",
           "category": "ticket", "quantity": "1", "unit_price": "1,00", "line_amount": "1,00",
           "currency": "EUR", "status": "completed", "updated_at": "14-11-2026 19:30"}  # fmt: skip
    path = write_landing(home, "erp_orders", "erp_orders_2026-11-20.csv", [row] * 3000)
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\n".join(lines[:2000]) + b"\r\n" + b"\r\n".join(lines[2000:]))
    with pytest.raises(landing.LandingError, match="the CSV parser gave up") as refused:
        landing.load_source(ERP)
    assert path.name in str(refused.value)
    assert not lake.has_files(lake.raw_dataset("erp_orders"))


def test_blank_text_is_found_exactly_as_trim_finds_it(home):
    """The shortcut in _blank (required text columns) trims only values whose first byte is not printable ASCII."""
    values = ["a", " a", "a ", "  ", "", "\ta\t", "\t", "\n", "a\u00a0", "\u3000a", "\u00a0", "\u3000 \u2003",
              "é", " é", "e\u0301", "\u1680", "\u1680a", "!", "~", "\x7f", "\x01", "a b", "\ufeffa", "\ufeff",
              "日本 ", "x@y.nl"]  # fmt: skip
    column = Column("v", "string", True)
    con = duckdb.connect()
    con.execute("create table t (v varchar)")
    con.executemany("insert into t values (?)", [[v] for v in values] + [[None]])
    pairs = con.execute(f"select v, {contract_sql._blank(column)}, nullif(trim(v), '') is null from t").fetchall()
    assert [(v, fast) for v, fast, _ in pairs] == [(v, exact) for v, _, exact in pairs]


# A rule DuckDB plans as a join: an IN list of five or more constants becomes a MARK join (duckdb/duckdb#24398).
_JOINED_RULE = ("{language} in ('xx', 'yy', 'zz', 'qq', 'ww')", "unknown language")


@pytest.mark.parametrize("rules", [(), (_JOINED_RULE,)], ids=["crm", "crm-with-a-rule-planned-as-a-join"])
def test_quarantined_rows_are_numbered_by_their_place_in_the_file_when_read_in_parallel(home, monkeypatch, rules):
    """Sources whose repeats are versions (CRM, subscriptions, ERP) are numbered as the rows arrive, which is
    only right if the check query hands them over in file order. The CRM's booleans were converted with
    `lower(v) IN (five or more values)`, which DuckDB plans as a join: on two threads its rows came out of
    order and every quarantined row got another record's number. Where the plan is not a plain scan (here a
    rule that becomes a join) the query must number the rows itself."""
    connect = duckdb.connect

    def two_threads(*args, **kwargs):
        con = connect(*args, **kwargs)
        con.execute("set threads = 2")  # the file is read in parallel on any machine
        return con

    monkeypatch.setattr(duckdb, "connect", two_threads)
    bools = ["true", "false", "ja", "nee", "", "1", "0"]
    rows = [
        crm_row(f"C{i:07d}", email=f"c{i}@example.nl", household_partner=bools[i % 7], consent_sms_marketing="true")
        for i in range(1, 120_001)
    ]
    bad = [7, 20_001, 45_678, 77_777, 119_999]  # row numbers: data rows counted from 1, the header not counted
    for n in bad:
        rows[n - 1] = crm_row(f"C{n:07d}", email="geen")
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", rows)
    (result,) = landing.load_source(dataclasses.replace(CRM, rules=rules))
    assert (result.rows_loaded, result.rows_quarantined) == (120_000 - len(bad), len(bad))
    quarantine = lake_df("crm_customers", lake.quarantine_dataset).sort_values("row_number")
    assert list(quarantine["row_number"]) == bad
    assert [line.split(",")[0] for line in quarantine["raw_line"]] == [f"C{n:07d}" for n in bad]


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_every_source_without_repeated_keys_is_numbered_as_it_arrives(home, source):
    """The fast path (rows numbered in Python, DuckDB checking on every core) holds for every contract: its
    check query is projections over the one CSV scan, nothing DuckDB would reorder."""
    contract = CONTRACTS[source]
    path = write_landing(home, source, f"{source}_2026-11-20.csv", [{}])
    header = load_dates._check_structure(path, contract)
    present = [c for c in contract.columns if c.name in header]
    query = contract_sql.check_query(path, header, contract, present, [], numbered=False)
    assert contract_sql.keeps_file_order(duckdb.connect(), query)
    text = next(c.name for c in present if c.type == "string")
    joined = dataclasses.replace(contract, rules=(("{" + text + "} in ('1', '2', '3', '4', '5')", "x"),))
    query = contract_sql.check_query(path, header, joined, present, [], numbered=False)
    assert not contract_sql.keeps_file_order(duckdb.connect(), query)
