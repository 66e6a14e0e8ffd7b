"""Random mutations of valid landing files: every input row is accounted for, or the load fails clearly.

Hypothesis cuts, inserts and overwrites bytes (delimiters, quotes, line breaks, bytes that are not UTF-8)
in generated files of each source. Whatever comes out, a load either accounts for every row (rows in = rows
loaded + rows quarantined, and the lake holds exactly those) or stops with a LandingError naming the file,
leaving the lake as it was.
"""

from datetime import date

import duckdb
import fault_log
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hourglass import lake, landing
from hourglass.sources import CONTRACTS

SOURCES = ["crm_customers", "erp_orders", "esp_events", "nps_responses"]
DAY = date(2026, 11, 20)
NASTY = [b";", b",", b'"', b"\n", b"\r\n", b"\xff", b"\xe9", b"\x00", b"-", b"31-02-2026", b"NaN", b"\xef\xbb\xbf"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The first rows of each source as the generator writes them."""
    from hourglass.generator import generate

    out = tmp_path_factory.mktemp("fuzz-sample")
    generate(out=out, customers=30, seed=9, as_of=DAY)
    found = {}
    for source in SOURCES:
        (path,) = (out / source).glob("*.csv")
        found[source] = b"".join(path.read_bytes().splitlines(keepends=True)[:25])
    return found


mutation = st.tuples(
    st.sampled_from(["cut", "insert", "overwrite", "truncate"]),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(NASTY),
)


def mutate(data: bytes, steps: list[tuple]) -> bytes:
    for kind, where, size, piece in steps:
        at = int(where * len(data))
        if kind == "cut":
            data = data[:at] + data[at + size :]
        elif kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "overwrite":
            data = data[:at] + piece + data[at + len(piece) :]
        else:
            data = data[: max(at, 1)]
    return data


def _count(path_glob: str) -> int:
    try:
        return duckdb.sql(f"select count(*) from read_parquet('{path_glob}')").fetchall()[0][0]
    except duckdb.IOException:
        return 0


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SOURCES), steps=st.lists(mutation, min_size=1, max_size=4))
def test_a_mutated_file_is_accounted_for_or_refused_clearly(home, samples, source, steps):
    contract = CONTRACTS[source]
    folder = home / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}_{DAY}.csv"
    path.write_bytes(mutate(samples[source], steps))
    raw = lake.partition_dir(lake.raw_dataset(source), DAY)
    before = _count(f"{raw}/*.parquet")
    fault_log.fault("bad input files (corpus and mutations)", 1)
    try:
        result = landing.load_date(contract, DAY, [path], force=True)
    except landing.LandingError as exc:
        assert path.name in str(exc)  # a structural problem names the file ...
        assert _count(f"{raw}/*.parquet") == before  # ... and leaves the lake as it was
        fault_log.count("loads refused with a clear error", 1)
        return
    assert result.rows_in == result.rows_loaded + result.rows_quarantined
    assert _count(f"{raw}/*.parquet") == result.rows_loaded
    bad = lake.partition_dir(lake.quarantine_dataset(source), DAY)
    assert _count(f"{bad}/*.parquet") == result.rows_quarantined
    fault_log.count(fault_log.ACCOUNTED, result.rows_in)
