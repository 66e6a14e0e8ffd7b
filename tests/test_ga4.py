"""GA4 through the official client (gRPC) against the emulator on loopback, with injected faults."""

import json
import logging
from collections import Counter
from datetime import date, timedelta

import duckdb
import fault_log
import grpc
import pytest
from conftest import write_web_csv
from google.api_core import exceptions

from hourglass import lake
from hourglass.ga4 import report
from hourglass.sample.ga4_emulator import Fault, Ga4Emulator

START, END = date(2026, 11, 1), date(2026, 11, 10)
FAST_RETRY = report.retry_policy(initial=0.01, maximum=0.05, deadline=5)


@pytest.fixture
def web_csv(tmp_path):
    return write_web_csv(tmp_path / "ga4_web_2026-11-10.csv", START, 10, rows=400, visitors=30, pages=4, seed=3)


@pytest.fixture
def emulator(web_csv):
    with Ga4Emulator(web_csv, property_id="properties/42") as emu:
        yield emu


def expected_rows(web_csv) -> list[tuple]:
    """The report recomputed straight from the CSV: the emulator's grouping is not trusted."""
    return duckdb.sql(
        f"""select cast(date as date), visitor_id, session_source_medium, page_path, event_name,
                   sum(cast(event_count as bigint)), sum(cast(sessions as bigint)),
                   sum(cast(engagement_seconds as double))
            from read_csv('{web_csv}', all_varchar = true) group by all order by all"""
    ).fetchall()


def lake_rows() -> list[tuple]:
    return duckdb.sql(
        f"select * exclude (load_date) from read_parquet('{lake.raw_glob('ga4_web')}', hive_partitioning = true) "
        "order by all"
    ).fetchall()


def partitions() -> list[str]:
    return sorted(p.name for p in lake.raw_dataset("ga4_web").glob("load_date=*"))


def all_days() -> list[str]:
    return [f"load_date={START + timedelta(days=i)}" for i in range((END - START).days + 1)]


def load(emulator, **kw):
    client = report.make_client(emulator.address)
    return report.load(client, emulator.property_id, START, END, policy=kw.pop("policy", FAST_RETRY), **kw)


def test_report_lands_one_partition_per_day_with_every_row(home, emulator, web_csv):
    result = load(emulator, page_size=37)
    assert result.rows == len(expected_rows(web_csv))
    assert result.requests > 10  # paged: 37 rows a page
    assert lake_rows() == expected_rows(web_csv)
    assert partitions() == all_days()
    marker = json.loads((lake.raw_dataset("ga4_web") / f"load_date={END}" / "_report.json").read_text())
    assert marker["time_zone"] == "Europe/Amsterdam" and marker["tokens_per_day_remaining"] > 0


def account(web_csv) -> None:
    """Rows in the lake against the report recomputed from the CSV: accounted for, duplicated, lost."""
    got, want = Counter(lake_rows()), Counter(expected_rows(web_csv))
    fault_log.count(fault_log.ACCOUNTED, sum((got & want).values()))
    fault_log.count(fault_log.DUPLICATES, sum((got - want).values()))
    fault_log.count(fault_log.LOST, sum((want - got).values()))


def retries(caplog) -> list[Exception]:
    """The errors the client met and retried, as the retry policy logged them."""
    return [r.args[0] for r in caplog.records if r.name == report.__name__ and r.msg.startswith("GA4 runReport failed")]


# Each fault, what it should reach the client as, and the call timeout of the load (a hang waits for it).
FAULTS = {
    "429": (Fault(status=grpc.StatusCode.RESOURCE_EXHAUSTED), exceptions.TooManyRequests, 5),
    "500": (Fault(status=grpc.StatusCode.INTERNAL), exceptions.InternalServerError, 5),
    "503": (Fault(status=grpc.StatusCode.UNAVAILABLE), exceptions.ServiceUnavailable, 5),
    "slow": (Fault(delay=1.0), exceptions.DeadlineExceeded, 0.3),  # answers, after the client gave up
    "hang": (Fault(hang=True), exceptions.DeadlineExceeded, 0.3),  # never answers
    "truncated": (Fault(truncate=True), exceptions.InternalServerError, 5),  # half a body: does not decode
    "cut-at-a-row": (Fault(cut_rows=True), report.IncompleteResponse, 5),  # decodes, as a shorter report
    "malformed": (Fault(garbage=True), exceptions.InternalServerError, 5),
}


@pytest.mark.parametrize("kind", FAULTS)
def test_transient_faults_are_retried_to_a_complete_load(home, emulator, web_csv, caplog, kind):
    fault, error, timeout = FAULTS[kind]
    emulator.inject(fault, fault)
    with caplog.at_level(logging.WARNING, logger=report.__name__):
        result = load(emulator, page_size=100, timeout=timeout)
    met = retries(caplog)
    fault_log.fault("GA4 answers broken (429, 500, 503, slow, hung, truncated, cut, malformed)", len(met))
    assert len(met) == 2 and all(isinstance(e, error) for e in met), met  # both faults reached the client as such
    assert emulator.calls == result.requests + 2
    account(web_csv)
    assert lake_rows() == expected_rows(web_csv)
    assert partitions() == all_days()


@pytest.mark.parametrize("kind", ["503", "hang", "cut-at-a-row", "malformed"])
def test_a_failed_run_is_resumed_without_duplicates_or_gaps(home, emulator, web_csv, caplog, kind):
    client = report.make_client(emulator.address)
    # First run: the first range loads, then the service keeps failing past the retry deadline.
    first = report.load(client, emulator.property_id, START, START + timedelta(days=3), policy=FAST_RETRY)
    fault = FAULTS[kind][0]
    emulator.inject(*[fault] * 500)
    before = emulator.calls
    with pytest.raises(report.Ga4Error, match="kept failing"):
        report.load(client, emulator.property_id, START, END, policy=report.retry_policy(0.01, 0.02, deadline=0.3),
                    timeout=0.1)  # fmt: skip
    fault_log.fault(
        "GA4 answers broken (429, 500, 503, slow, hung, truncated, cut, malformed)", emulator.calls - before
    )
    assert partitions() == all_days()[:4] and first.rows > 0  # a clean failure: what was there stays, nothing half
    emulator.clear_faults()  # the outage is over
    report.load(client, emulator.property_id, START, END, policy=FAST_RETRY)
    fault_log.count(fault_log.RESUMED)
    account(web_csv)
    assert lake_rows() == expected_rows(web_csv)
    assert partitions() == all_days()


def test_later_runs_fetch_only_missing_days_and_the_last_three_again(home, emulator):
    load(emulator)
    again = load(emulator)
    assert [d.day for d in again.days] == [END - timedelta(days=2), END - timedelta(days=1), END]
    assert again.requests == 1


def test_no_access_fails_at_once_with_a_clear_message(home, emulator):
    client = report.make_client(emulator.address)
    with pytest.raises(report.Ga4Error, match="refused the report for properties/7"):
        report.load(client, "properties/7", START, END, policy=FAST_RETRY)
    assert emulator.calls == 1 and partitions() == []


def test_bad_request_is_not_retried(home, emulator):
    emulator.inject(Fault(status=grpc.StatusCode.INVALID_ARGUMENT, message="Field foo is not a valid dimension"))
    with pytest.raises(report.Ga4Error, match="not a valid dimension"):
        load(emulator)
    assert emulator.calls == 1


def test_days_to_fetch_and_ranges():
    loaded = {START + timedelta(days=i) for i in (0, 1, 2, 5, 6, 7, 8, 9)}
    days = report.days_to_fetch(loaded, START, END)
    assert days == [START + timedelta(days=i) for i in (3, 4, 7, 8, 9)]
    assert list(report.ranges(days)) == [(START + timedelta(days=3), START + timedelta(days=4)),
                                         (START + timedelta(days=7), END)]  # fmt: skip
    assert list(report.ranges([START + timedelta(days=i) for i in range(70)], max_days=31))[-1] == (
        START + timedelta(days=62),
        START + timedelta(days=69),
    )


def test_a_day_without_rows_is_an_empty_partition_fetched_again_until_a_later_run_confirms_it(home, emulator, web_csv):
    """GA4 may answer a day before its data arrived: the day lands as zero rows with the report's columns, so the
    models read it, but only a fetch on a later day that finds it empty again marks it loaded."""
    client = report.make_client(emulator.address)
    quiet = [END + timedelta(days=1), END + timedelta(days=2)]  # the emulator's data ends at END

    def fetch(end: date) -> list[date]:
        return [d.day for d in report.load(client, emulator.property_id, START, end, refetch_days=0,
                                           policy=FAST_RETRY).days]  # fmt: skip

    assert fetch(quiet[-1])[-2:] == quiet
    for day in quiet:
        assert (lake.raw_dataset("ga4_web") / f"load_date={day}" / "report.parquet").exists()
    assert lake_rows() == expected_rows(web_csv)  # the empty days add no rows, and read with the others
    assert not set(quiet) & report.loaded_days()
    assert fetch(quiet[-1]) == quiet  # the same day again: not yet confirmed
    assert not set(quiet) & report.loaded_days()
    later = quiet[-1] + timedelta(days=1)
    assert fetch(later) == [*quiet, later]  # a later run finds them empty again: now they count as loaded
    assert set(quiet) <= report.loaded_days() and later not in report.loaded_days()
    assert fetch(later + timedelta(days=1)) == [later, later + timedelta(days=1)]
