"""Random mutations of valid landing files: every input line is accounted for, or the load fails clearly.

Hypothesis cuts, inserts and overwrites bytes (delimiters, quotes, line breaks, bytes that are not UTF-8)
in generated files of each source, opens quotes that never close, breaks the header (gone, a column named
like the loader's or the lake's own, a name twice in another case) and widens files to hundreds of columns.
Whatever comes out, a load either accounts for every line (rows in = rows loaded + rows quarantined, the lake
holds exactly those, and together they cover every non-blank line of the file) or stops with a LandingError
naming the file and quoting none of its values, leaving the lake as it was. File names with impossible
dates are refused one by one while the source's other files load.
"""

import re
import shutil
from datetime import date

import dagster as dg
import duckdb
import fault_log
import pytest
from conftest import assert_quotes_no_row_values, write_landing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hourglass import lake, landing
from hourglass.sensors import landing_files_sensor
from hourglass.sources import CONTRACTS, RESERVED_PREFIX

SOURCES = ["crm_customers", "erp_orders", "esp_events", "nps_responses"]
DAY = date(2026, 11, 20)
NASTY = [b";", b",", b'"', b"\n", b"\r\n", b"\xff", b"\xe9", b"\x00", b"-", b"31-02-2026", b"NaN", b"\xef\xbb\xbf"]
# Header names a source must not use, or may use only once: the loader's prefix, the lake's own columns,
# the old internal names, a column again in another case.
HOSTILE_NAMES = [f"{RESERVED_PREFIX}row", "_source_file", "LOAD_DATE", "_row", "__clean_email", "{UPPER}"]
WIDTHS = [1, 30, 600]
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The first rows of each source as the generator writes them."""
    from hourglass.sample.generator import generate

    out = tmp_path_factory.mktemp("fuzz-sample")
    generate(out=out, customers=30, seed=9, as_of=DAY)
    found = {}
    for source in SOURCES:
        (path,) = (out / source).glob("*.csv")
        found[source] = b"".join(path.read_bytes().splitlines(keepends=True)[:25])
    return found


# The byte mutations three times as often as the shapes, most of which refuse the file: loads that go through
# stay the common case, so the accounting is what gets tested most.
KINDS = ["cut", "insert", "overwrite", "truncate"] * 3 + ["open_quote", "header", "headerless", "widen"]
mutation = st.tuples(
    st.sampled_from(KINDS),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(NASTY),
)


def mutate(data: bytes, steps: list[tuple], delimiter: bytes) -> bytes:
    for kind, where, size, piece in steps:
        at = int(where * len(data))
        if kind == "cut":
            data = data[:at] + data[at + size :]
        elif kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "overwrite":
            data = data[:at] + piece + data[at + len(piece) :]
        elif kind == "truncate":
            data = data[: max(at, 1)]
        elif kind == "open_quote":  # a quote at the start of a field, closed nowhere (or by a later one)
            start = max(data.rfind(delimiter, 0, at), data.rfind(b"\n", 0, at)) + 1
            data = data[:start] + b'"' + data[start:]
        elif kind == "headerless":
            data = data[data.find(b"\n") + 1 :]
        else:
            header, newline, rest = data.partition(b"\n")
            names = header.rstrip(b"\r").split(delimiter)
            if kind == "header":  # one name replaced by a hostile one
                hostile = HOSTILE_NAMES[size % len(HOSTILE_NAMES)].encode()
                i = int(where * (len(names) - 1))
                names[i] = names[i].lstrip(b"\xef\xbb\xbf").upper() if hostile == b"{UPPER}" else hostile
                if hostile == b"{UPPER}":
                    names.append(names[i].lower())
            else:  # widen: extra columns on every line
                extra = WIDTHS[size % len(WIDTHS)]
                names += [b"extra_%d" % i for i in range(extra)]
                rest = b"".join(
                    line + delimiter.join(b"v%d" % i for i in range(extra)) + b"\r\n"
                    for line in (x.rstrip(b"\r") + delimiter for x in rest.split(b"\n") if x.strip())
                )
            data = delimiter.join(names) + (header[-1:] if header.endswith(b"\r") else b"") + newline + rest
    return data


def _count(path_glob: str) -> int:
    try:
        return duckdb.sql(f"select count(*) from read_parquet('{path_glob}')").fetchall()[0][0]
    except duckdb.IOException:
        return 0


def _lines_covered(rows_glob: str, quarantine_glob: str) -> int:
    """The lines of the file that rows in stands for: one per row, loaded or quarantined, plus the line breaks
    inside its values (a quoted value may run over lines). An unreadable line is one line: were it several, as
    where a quote swallowed the lines after it, the count of rows in would hide them."""
    breaks = "len(regexp_extract_all({v}, '\\r\\n|\\r|\\n'))"
    total = 0
    for glob, values in ((rows_glob, None), (quarantine_glob, "case when line is null then raw_line end")):
        try:
            rel = duckdb.sql(f"select * from read_parquet('{glob}')")
        except duckdb.IOException:
            continue
        if values is None:  # all text columns of a loaded row, joined
            text = [
                f"coalesce(\"{n}\", '')" for n, t in zip(rel.columns, rel.types, strict=True) if str(t) == "VARCHAR"
            ]
            values = f"concat_ws('', {', '.join(text)})"
        total += rel.aggregate(f"sum(1 + coalesce({breaks.format(v=values)}, 0))").fetchall()[0][0] or 0
    return total


def _data_lines(data: bytes) -> int:
    """Non-blank lines after the header: blank ones hold nothing and the reader skips them."""
    lines = LINE_BREAK.split(data)[1:]
    return sum(1 for line in lines if line)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SOURCES), steps=st.lists(mutation, min_size=1, max_size=4))
def test_a_mutated_file_is_accounted_for_or_refused_clearly(home, samples, source, steps):
    contract = CONTRACTS[source]
    folder = home / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}_{DAY}.csv"
    path.write_bytes(mutate(samples[source], steps, contract.delimiter.encode()))
    raw = lake.partition_dir(lake.raw_dataset(source), DAY)
    bad = lake.partition_dir(lake.quarantine_dataset(source), DAY)
    before = _count(f"{raw}/*.parquet")
    fault_log.fault("bad input files (corpus and mutations)", 1)
    try:
        result = landing.load_date(contract, DAY, [path], force=True)
    except landing.LandingError as exc:
        assert path.name in str(exc)  # a structural problem names the file ...
        assert_quotes_no_row_values(str(exc), path)  # ... and none of its values
        assert _count(f"{raw}/*.parquet") == before  # ... and leaves the lake as it was
        fault_log.count("loads refused with a clear error", 1)
        return
    assert result.rows_in == result.rows_loaded + result.rows_quarantined
    assert _count(f"{raw}/*.parquet") == result.rows_loaded
    assert _count(f"{bad}/*.parquet") == result.rows_quarantined
    # "in" is honest: every non-blank line is in a loaded row or the quarantine, none swallowed by another
    assert _lines_covered(f"{raw}/*.parquet", f"{bad}/*.parquet") == _data_lines(path.read_bytes())
    fault_log.count(fault_log.ACCOUNTED, result.rows_in)


day_in_name = st.tuples(st.integers(2000, 2030), st.integers(0, 13), st.integers(0, 32)).map(
    lambda ymd: "{:04d}-{:02d}-{:02d}".format(*ymd)
)


@settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(days=st.lists(day_in_name, min_size=1, max_size=4, unique=True))
def test_file_names_with_impossible_dates_are_refused_one_by_one(home, days):
    """A name holding an impossible date refuses that file alone: the source's other files load, other
    sources are untouched and the landing sensor asks for a run of each changed source."""
    for old in ("landing", "lake"):  # hypothesis runs every example in the same home
        shutil.rmtree(home / old, ignore_errors=True)
    row = {"customer_id": "C1", "created_at": "2026-01-05T10:00:00", "updated_at": "2026-01-05T10:00:00"}
    paths = {day: write_landing(home, "crm_customers", f"crm_customers_{day}.csv", [row]) for day in days}
    impossible = {day for day in days if not _real_date(day)}
    fault_log.fault("bad input files (corpus and mutations)", len(impossible))

    sensed = landing_files_sensor(dg.build_sensor_context())
    assert [r.asset_selection[0].to_user_string() for r in sensed.run_requests] == ["crm_customers"]
    try:
        results = landing.load_source(CONTRACTS["crm_customers"], force=True)
    except landing.LandingError as exc:
        named = {day for day, path in paths.items() if str(path) in str(exc)}
        assert named == impossible
        fault_log.count("loads refused with a clear error", len(impossible))
    else:
        assert not impossible
        assert len(results) == len(days)
    assert _load_dates("crm_customers") == set(days) - impossible


def _load_dates(source: str) -> set[str]:
    if not lake.has_files(lake.raw_dataset(source)):
        return set()
    return {str(d) for (d,) in duckdb.sql(f"select distinct load_date from '{lake.raw_glob(source)}'").fetchall()}


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
