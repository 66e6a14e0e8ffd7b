"""Hostile landing files: broken quoting, column names that collide with the loader's own, impossible dates in
file names, very wide files, a missing header. Each is loaded with every record accounted for, or refused
alone with an error naming the file (and the column) that quotes no row values, leaving the lake as it was."""

import csv
import io

import dagster as dg
import duckdb
import pytest
from conftest import assert_quotes_no_row_values, write_landing

from hourglass import lake, landing
from hourglass.sensors import landing_files_sensor
from hourglass.sources import CONTRACTS, RESERVED_PREFIX

CRM = CONTRACTS["crm_customers"]
NAME = "crm_customers_2026-11-20.csv"


def customer(n: int, **values) -> dict:
    return {
        "customer_id": f"C{n}",
        "first_name": f"Voornaam{n}",
        "email": f"klant{n}@example.nl",
        "phone": f"+3161234567{n}",
        "created_at": "2026-01-05T10:00:00",
        "updated_at": "2026-11-20T10:00:00",
        "consent_email_marketing": "true",
    } | values


def lake_rows(source: str = "crm_customers") -> list[tuple]:
    if not lake.has_files(lake.raw_dataset(source)):
        return []
    return sorted(duckdb.sql(f"select * from read_parquet('{lake.raw_glob(source)}')").fetchall())


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    "quotes",
    [{2: '"Jan'}, {2: '"Jan', 5: '"Piet'}, {5: '"Piet'}],
    ids=["never-closes", "closes-at-the-wrong-place-later", "never-closes-from-the-next-to-last-row"],
)
def test_a_quote_that_swallows_lines_refuses_the_file_and_keeps_the_lake(home, quotes):
    """An unclosed quote made the CSV reader take the rest of the file as one unreadable line: in = 2 of 6
    records, and the later customers silently kept their older versions (consent included). Where a
    quote runs over line breaks the records after it cannot be told apart: the file is refused."""
    write_landing(home, "crm_customers", NAME, [customer(n, consent_email_marketing="false") for n in range(1, 7)])
    landing.load_source(CRM)
    before = lake_rows()

    path = write_landing(home, "crm_customers", NAME, [customer(n) for n in range(1, 7)])
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    for row, text in quotes.items():
        lines[row] = lines[row].replace(f"Voornaam{row}", text)
    path.write_bytes("\r\n".join(lines).encode())
    with pytest.raises(landing.LandingError, match="quote") as refused:
        landing.load_source(CRM)
    message = str(refused.value)
    assert path.name in message and f"row {min(quotes)}" in message
    assert_quotes_no_row_values(message, path)
    assert lake_rows() == before


def test_a_quote_left_open_on_the_last_line_quarantines_that_line_alone(home):
    """A truncated last record: nothing after it is in doubt, so it is one unreadable line, counted."""
    path = write_landing(home, "crm_customers", NAME, [customer(n) for n in range(1, 6)], tail='C6,"Voornaam6')
    (result,) = landing.load_source(CRM)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (6, 5, 1)
    assert list(result.reasons) == ["unreadable line: UNQUOTED VALUE"]
    assert path.read_bytes().count(b"\n") == 6  # header + 5 rows, the last line has no line break


@pytest.mark.parametrize("opening", ['""', '"', '"customer_id"x'], ids=["empty-quoted", "left-open", "text-after"])
def test_a_quote_out_of_place_in_the_header_refuses_the_file(home, opening):
    """DuckDB reads no rows at all and reports nothing when the header's quotes do not pair up: six customers
    in, zero loaded, zero quarantined. The header is read as strictly."""
    path = write_landing(home, "crm_customers", NAME, [customer(n) for n in range(1, 7)])
    data = path.read_bytes().decode("utf-8-sig")
    path.write_bytes(
        (opening + data if opening != '"customer_id"x' else data.replace("customer_id", opening, 1)).encode()
    )
    with pytest.raises(landing.LandingError, match="header line is malformed") as refused:
        landing.load_source(CRM)
    assert path.name in str(refused.value)
    assert_quotes_no_row_values(str(refused.value), path)
    assert lake_rows() == []


@pytest.mark.parametrize("name", ["__clean_email", "_row", "_reason", "_raw_line", "_repeated", "__typed_birth_date"])
def test_a_column_named_like_an_old_internal_one_is_ordinary_data(home, name):
    """These were the loader's own column names: a source column so named bypassed the e-mail check, crashed
    the load or vanished. Internal names now carry the reserved prefix; these travel as text like any other."""
    rows = [customer(1, **{name: "x@example.nl"}), customer(2, email="geen", **{name: "y@example.nl"})]
    write_landing(home, "crm_customers", NAME, rows, columns=[*CRM.column_names, name])
    (result,) = landing.load_source(CRM)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert result.reasons == {"invalid e-mail in email": 1}
    loaded = duckdb.sql(
        f"select customer_id, email, \"{name}\", _source_file from read_parquet('{lake.raw_glob('crm_customers')}')"
    )
    assert loaded.fetchall() == [("C1", "klant1@example.nl", "x@example.nl", NAME)]


@pytest.mark.parametrize(
    "name", [f"{RESERVED_PREFIX}row", f"{RESERVED_PREFIX.upper()}REASON", "_source_file", "load_date", "Load_Date"]
)
def test_a_reserved_column_name_refuses_the_file_naming_the_column(home, name):
    """The reserved prefix is the loader's; `_source_file` (lineage) and `load_date` (the partition column)
    belong to the lake: a source column may not shadow them."""
    write_landing(home, "crm_customers", NAME, [customer(1)])
    landing.load_source(CRM)
    before = lake_rows()
    path = write_landing(home, "crm_customers", NAME, [customer(2, **{name: "x"})], columns=[*CRM.column_names, name])
    with pytest.raises(landing.LandingError, match="reserved") as refused:
        landing.load_source(CRM)
    assert path.name in str(refused.value) and f"'{name}'" in str(refused.value)
    assert lake_rows() == before


@pytest.mark.parametrize("twin", ["EMAIL", "Email", "email "])
def test_a_header_name_twice_ignoring_case_refuses_the_file(home, twin):
    path = write_landing(
        home, "crm_customers", NAME, [customer(1, **{twin: "ander@example.nl"})], columns=[*CRM.column_names, twin]
    )
    with pytest.raises(landing.LandingError, match="twice") as refused:
        landing.load_source(CRM)
    assert path.name in str(refused.value) and "'email'" in str(refused.value).lower()
    assert_quotes_no_row_values(str(refused.value), path)
    assert lake_rows() == []


def test_a_contract_column_in_another_case_is_that_column(home):
    """SQL does not tell EMAIL from email: the header's EMAIL is checked and lands as the contract's email."""
    columns = [name.upper() for name in CRM.column_names]
    rows = [{k.upper(): v for k, v in customer(n).items()} for n in (1, 2)]
    rows[1]["EMAIL"] = "geen"
    write_landing(home, "crm_customers", NAME, rows, columns=columns)
    (result,) = landing.load_source(CRM)
    assert result.reasons == {"invalid e-mail in email": 1}
    described = duckdb.sql(f"describe select * from read_parquet('{lake.raw_glob('crm_customers')}')").fetchall()
    assert [name for name, *_ in described] == [*CRM.column_names, "_source_file", "load_date"]
    assert duckdb.sql(f"select email from read_parquet('{lake.raw_glob('crm_customers')}')").fetchall() == [
        ("klant1@example.nl",)
    ]


def test_an_impossible_date_in_a_file_name_refuses_that_file_alone(home):
    """`day is out of range for month` named no file, failed every load date of the source and stopped the
    landing sensor for all sources."""
    write_landing(home, "crm_customers", "crm_customers_2026-11-19.csv", [customer(1)])
    bad = write_landing(home, "crm_customers", "crm_customers_2026-02-31.csv", [customer(2)])
    write_landing(home, "leads", "leads_2026-11-20.csv", [{"lead_id": "L1", "created_at": "2026-11-20T10:00:00"}])

    sensed = landing_files_sensor(dg.build_sensor_context())
    assert sorted(r.asset_selection[0].to_user_string() for r in sensed.run_requests) == ["crm_customers", "leads"]

    with pytest.raises(landing.LandingError, match="not a real date") as refused:
        landing.load_source(CRM)
    assert str(bad) in str(refused.value)
    assert [r[0] for r in lake_rows()] == ["C1"]  # the source's other file is loaded
    (leads,) = landing.load_source(CONTRACTS["leads"])
    assert leads.rows_loaded == 1


def test_a_structural_error_on_one_load_date_leaves_the_others_loading(home):
    write_landing(home, "crm_customers", "crm_customers_2026-11-19.csv", [customer(1)])
    columns = [c for c in CRM.column_names if c != "updated_at"]
    bad = write_landing(home, "crm_customers", NAME, [{"customer_id": "C2"}], columns=columns)
    write_landing(home, "crm_customers", "crm_customers_2026-11-21.csv", [customer(3)])
    with pytest.raises(landing.LandingError, match="'updated_at'") as refused:
        landing.load_source(CRM)
    assert str(bad) in str(refused.value)
    assert [r[0] for r in lake_rows()] == ["C1", "C3"]


@pytest.mark.parametrize("extra", [500, 1000, 2000])
def test_a_very_wide_file_loads_and_quarantines_with_its_raw_line(home, extra):
    """500 columns failed with `Max expression depth 1000` (the raw line was a chain of || operators)."""
    names = [f"extra_{i}" for i in range(extra)]
    rows = [customer(1) | {n: f"v{i}" for i, n in enumerate(names)}, customer(2, email="geen")]
    write_landing(home, "crm_customers", NAME, rows, columns=[*CRM.column_names, *names])
    (result,) = landing.load_source(CRM)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    (raw_line,) = duckdb.sql(
        f"select raw_line from read_parquet('{lake.quarantine_dataset('crm_customers')}/*/*.parquet')"
    ).fetchall()[0]
    assert raw_line.startswith("C2,Voornaam2,,geen,") and raw_line.count(",") == len(CRM.columns) + extra - 1
    (last,) = duckdb.sql(
        f"select \"extra_{extra - 1}\" from read_parquet('{lake.raw_glob('crm_customers')}')"
    ).fetchall()[0]
    assert last == f"v{extra - 1}"


def test_a_file_without_its_header_is_refused_without_quoting_its_first_row(home):
    """The error named the missing column and then quoted the whole first line, a customer's name, e-mail and
    phone, into the Dagster event log."""
    first = customer(1, last_name="Jansen", phone="+31612345678")
    first["city"] = ""  # an empty field: the first row read as a header has a column without a name
    path = home / "landing" / "crm_customers" / NAME
    path.parent.mkdir(parents=True)
    path.write_text(csv_text([[r.get(c, "") for c in CRM.column_names] for r in (first, customer(2))]))
    with pytest.raises(landing.LandingError, match="header") as refused:
        landing.load_source(CRM)
    message = str(refused.value)
    assert path.name in message and "customer_id" in message
    for value in ("Voornaam1", "Jansen", "klant1@example.nl", "+31612345678", "C1"):
        assert value not in message.replace(str(path), "")
    assert_quotes_no_row_values(message, path)


@pytest.mark.parametrize(
    "header",
    [
        "customer_id,,created_at,updated_at,notes",  # a column without a name
        'customer_id,xq"z,created_at,updated_at',  # a broken name
        "customer_id,notes,created_at,updated_at,notes",  # an unknown name twice
    ],
    ids=["unnamed", "malformed", "unknown-twice"],
)
def test_a_broken_header_is_named_by_position_not_by_its_text(home, header):
    """Names the contract does not know may be values (a header line merged with a row): only their place
    in the header is reported."""
    path = home / "landing" / "crm_customers" / NAME
    path.parent.mkdir(parents=True)
    path.write_text(header + "\nC1,x,2026-01-05T10:00:00,2026-01-05T10:00:00\n")
    with pytest.raises(landing.LandingError, match="columns? [0-9]") as refused:
        landing.load_source(CRM)
    message = str(refused.value).replace(str(path), "")
    assert "notes" not in message and "xq" not in message
