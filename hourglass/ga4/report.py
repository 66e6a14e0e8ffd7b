"""GA4 runReport through the official client -> one lake partition per day of the property's calendar.

The client runs on the gRPC transport and rows are read from the raw protobuf message underneath the
proto-plus wrapper: the wrapper's per-field conversions are the slow part (docs/performance.md).
"""

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.services.beta_analytics_data.transports import BetaAnalyticsDataGrpcTransport
from google.analytics.data_v1beta.types import DateRange, Dimension, Metric, RunReportRequest, RunReportResponse
from google.api_core import exceptions, retry

from hourglass import lake
from hourglass.ga4 import MAX_PAGE, SOURCE  # noqa: F401  (part of this module's interface)
from hourglass.privacy import suppression

log = logging.getLogger(__name__)

VISITOR_DIMENSION = "customUser:hg_visitor_id"
DIMENSIONS = ("date", VISITOR_DIMENSION, "sessionSourceMedium", "pagePath", "eventName")
METRICS = ("eventCount", "sessions", "userEngagementDuration")
COLUMNS = ("date", "visitor_id", "session_source_medium", "page_path", "event_name")
METRIC_COLUMNS = ("event_count", "sessions", "engagement_seconds")
# The lake's columns: a day without rows, or GA4 without data, has them too.
SCHEMA = pa.schema(
    [("date", pa.date32()), *((name, pa.string()) for name in COLUMNS[1:]),
     ("event_count", pa.int64()), ("sessions", pa.int64()), ("engagement_seconds", pa.float64())]
)  # fmt: skip
RETRYABLE = (
    exceptions.TooManyRequests,  # 429 over REST
    exceptions.ResourceExhausted,  # 429 over gRPC
    exceptions.InternalServerError,  # also what a body that does not decode turns into
    exceptions.BadGateway,
    exceptions.ServiceUnavailable,
    exceptions.GatewayTimeout,
    exceptions.DeadlineExceeded,
)


class Ga4Error(RuntimeError):
    """A GA4 failure that retrying will not fix: bad request, no access, no quota."""


@dataclass
class DayReport:
    day: date
    rows: int = 0
    # A day GA4 answers without rows may still be on its way: it counts as loaded only once a fetch for a later
    # day (the `end` of a later load) finds it empty again. empty_since: the end day of the first empty fetch.
    empty_since: date | None = None
    empty_confirmed: bool = False
    pages: int = 0
    subject_to_thresholding: bool = False
    data_loss_from_other_row: bool = False
    time_zone: str = ""
    tokens_per_day_remaining: int | None = None
    tokens_per_hour_remaining: int | None = None


@dataclass
class FetchResult:
    days: list[DayReport] = field(default_factory=list)
    rows: int = 0
    requests: int = 0
    erased: int = 0  # rows of forgotten people (privacy/suppression.py), left out before writing


def make_client(endpoint: str = "", credentials_file: str = "") -> BetaAnalyticsDataClient:
    """A loopback endpoint (the emulator) gets a plain channel; otherwise Google's endpoint with a service account."""
    options = [("grpc.max_receive_message_length", 512 * 2**20)]
    if endpoint:
        channel = grpc.insecure_channel(endpoint, options=options)
        return BetaAnalyticsDataClient(transport=BetaAnalyticsDataGrpcTransport(channel=channel))
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(
        credentials_file, scopes=["https://www.googleapis.com/auth/analytics.readonly"]
    )
    transport = BetaAnalyticsDataGrpcTransport(credentials=credentials, channel=None)
    return BetaAnalyticsDataClient(transport=transport)


def retry_policy(initial: float = 1.0, maximum: float = 60.0, deadline: float = 900.0) -> retry.Retry:
    """Exponential backoff with jitter on 429 and 5xx; everything else fails at once."""
    return retry.Retry(
        predicate=retry.if_exception_type(*RETRYABLE),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=deadline,
        on_error=lambda exc: log.warning("GA4 runReport failed, retrying: %s", exc),
    )


def days_to_fetch(loaded: set[date], start: date, end: date, refetch_days: int = 3) -> list[date]:
    """Every day in [start, end] not loaded yet, plus the last `refetch_days` days again (GA4 data settles late)."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    refetch = set(days[-refetch_days:]) if refetch_days else set()
    return [d for d in days if d not in loaded or d in refetch]


def ranges(days: list[date], max_days: int = 31) -> Iterator[tuple[date, date]]:
    """Contiguous runs of days, at most max_days long: one report (and its pages) per run."""
    run: list[date] = []
    for day in sorted(days):
        if run and (day - run[-1] != timedelta(days=1) or len(run) == max_days):
            yield run[0], run[-1]
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1]


def _marker(day: date) -> Path:
    return lake.partition_dir(lake.raw_dataset(SOURCE), day) / "_report.json"


def loaded_days() -> set[date]:
    """Days with rows, and empty days a later fetch confirmed; the others are fetched again."""
    loaded = set()
    for path in lake.raw_dataset(SOURCE).glob("load_date=*/_report.json"):
        marker = json.loads(path.read_text())
        if marker["rows"] or marker.get("empty_confirmed"):
            loaded.add(date.fromisoformat(marker["day"]))
    return loaded


def ensure_not_missing(day: date) -> None:
    """A zero-row table with the report's columns when the lake has none (a property without data yet, or no
    GA4 at all), dated `day`. It carries no marker: the day is not loaded."""
    lake.ensure_table(lake.raw_dataset(SOURCE), day, SCHEMA.empty_table())


def _columns_fast(response: RunReportResponse, out: list[list]) -> int:
    """Append a page's values from the raw protobuf rows: one container lookup per row, no proto-plus objects."""
    rows = RunReportResponse.pb(response).rows
    d0, d1, d2, d3, d4, m0, m1, m2 = (column.append for column in out)
    for row in rows:
        d, m = row.dimension_values, row.metric_values
        d0(d[0].value), d1(d[1].value), d2(d[2].value), d3(d[3].value), d4(d[4].value)
        m0(m[0].value), m1(m[1].value), m2(m[2].value)
    return len(rows)


def _columns_proto_plus(response: RunReportResponse, out: list[list]) -> int:
    """The obvious way through the proto-plus wrappers; kept to measure the fast path against."""
    for row in response.rows:
        for i, value in enumerate(row.dimension_values):
            out[i].append(value.value)
        for j, value in enumerate(row.metric_values):
            out[len(DIMENSIONS) + j].append(value.value)
    return len(response.rows)


class IncompleteResponse(exceptions.InternalServerError):
    """A body that decodes but stops short: retried like any other broken answer."""


def _complete_page(
    client: BetaAnalyticsDataClient, request: RunReportRequest, offset: int, timeout: float
) -> Callable[[], RunReportResponse]:
    """One call, its answer checked for completeness; the retry policy goes around both.

    A protobuf body cut at a row boundary still decodes, as a shorter report without its row count. The
    metadata follow the rows and the row count on the wire, so a page is whole only if it has them and its
    rows fit within the row count; otherwise the missing rows would pass for the end of the report.
    """

    def call() -> RunReportResponse:
        response = client.run_report(request=request, retry=None, timeout=timeout)
        raw = RunReportResponse.pb(response)
        if not raw.HasField("metadata") or offset + len(raw.rows) > raw.row_count:
            raise IncompleteResponse(
                f"incomplete answer at offset {offset}: {len(raw.rows)} rows, row_count {raw.row_count}, "
                f"metadata {'present' if raw.HasField('metadata') else 'missing'}"
            )
        return response

    return call


def _check_headers(response: RunReportResponse) -> None:
    raw = RunReportResponse.pb(response)
    got = tuple(h.name for h in raw.dimension_headers) + tuple(h.name for h in raw.metric_headers)
    if got != DIMENSIONS + METRICS:
        raise Ga4Error(f"GA4 answered with columns {got}, expected {DIMENSIONS + METRICS}")


def _to_table(columns: list[list]) -> pa.Table:
    data = dict(zip(COLUMNS + METRIC_COLUMNS, columns, strict=True))
    data["date"] = pc.cast(pc.strptime(pa.array(data["date"], pa.string()), "%Y%m%d", "s"), pa.date32())
    for name in ("event_count", "sessions"):
        data[name] = pc.cast(pa.array(data[name], pa.string()), pa.int64())
    data["engagement_seconds"] = pc.cast(pa.array(data["engagement_seconds"], pa.string()), pa.float64())
    return pa.table(data, schema=SCHEMA)


def fetch(
    client: BetaAnalyticsDataClient,
    property_id: str,
    start: date,
    end: date,
    page_size: int = MAX_PAGE,
    policy: retry.Retry | None = None,
    timeout: float = 120.0,
    reader: Callable[[RunReportResponse, list[list]], int] = _columns_fast,
) -> tuple[pa.Table, DayReport, int]:
    """One report over [start, end], every page; returns the rows, the last page's metadata and the request count."""
    if not 0 < page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be in 1..{MAX_PAGE}")
    columns: list[list] = [[] for _ in DIMENSIONS + METRICS]
    meta = DayReport(day=start)
    offset, requests = 0, 0
    while True:
        request = RunReportRequest(
            property=property_id,
            dimensions=[Dimension(name=d) for d in DIMENSIONS],
            metrics=[Metric(name=m) for m in METRICS],
            date_ranges=[DateRange(start_date=start.isoformat(), end_date=end.isoformat())],
            limit=page_size,
            offset=offset,
            return_property_quota=True,
        )
        try:
            response = (policy or retry_policy())(_complete_page(client, request, offset, timeout))()
        except (exceptions.InvalidArgument, exceptions.PermissionDenied, exceptions.Unauthenticated) as exc:
            raise Ga4Error(f"GA4 refused the report for {property_id} ({start}..{end}): {exc.message}") from exc
        except exceptions.RetryError as exc:
            raise Ga4Error(f"GA4 kept failing for {property_id} ({start}..{end}), giving up: {exc.cause}") from exc
        requests += 1
        _check_headers(response)
        got = reader(response, columns)
        raw = RunReportResponse.pb(response)
        meta.pages += 1
        meta.subject_to_thresholding |= raw.metadata.subject_to_thresholding
        meta.data_loss_from_other_row |= raw.metadata.data_loss_from_other_row
        meta.time_zone = raw.metadata.time_zone
        if raw.HasField("property_quota"):
            meta.tokens_per_day_remaining = raw.property_quota.tokens_per_day.remaining
            meta.tokens_per_hour_remaining = raw.property_quota.tokens_per_hour.remaining
        offset += got
        if got == 0 or offset >= raw.row_count:
            break
        if meta.tokens_per_day_remaining == 0:
            raise Ga4Error(f"GA4 daily quota of {property_id} is used up at offset {offset}; the next run resumes")
    return _to_table(columns), meta, requests


def _empty_since(day: date, fetched_for: date) -> date:
    """The end day of the first of the fetches in a row, this one included, that found `day` empty."""
    path = _marker(day)
    if path.exists():
        marker = json.loads(path.read_text())
        if not marker["rows"] and marker.get("empty_since"):
            return min(date.fromisoformat(marker["empty_since"]), fetched_for)
    return fetched_for


def write_days(table: pa.Table, meta: DayReport, start: date, end: date, fetched_for: date) -> list[DayReport]:
    """Replace each day's partition with that day's rows, zero rows included, and its marker.

    `fetched_for` is the day the load runs for (its `end`): an empty day is confirmed by a fetch for a later day.
    """
    reports = []
    day = start
    while day <= end:
        rows = table.filter(pc.equal(table["date"], pa.scalar(day, pa.date32())))
        report = DayReport(**(asdict(meta) | {"day": day, "rows": rows.num_rows}))
        if not rows.num_rows:
            report.empty_since = _empty_since(day, fetched_for)
            report.empty_confirmed = report.empty_since < fetched_for
        with lake.replacing_partitions([lake.raw_dataset(SOURCE)], day) as (staging,):
            pq.write_table(rows, staging / "report.parquet")
            (staging / "_report.json").write_text(json.dumps(asdict(report), default=str))
        reports.append(report)
        day += timedelta(days=1)
    return reports


def load(
    client: BetaAnalyticsDataClient,
    property_id: str,
    start: date,
    end: date,
    refetch_days: int = 3,
    page_size: int = MAX_PAGE,
    policy: retry.Retry | None = None,
    timeout: float = 120.0,
) -> FetchResult:
    """Fetch every missing day and the last few again; each range is written only after all its pages arrived."""
    result = FetchResult()
    for first, last in ranges(days_to_fetch(loaded_days(), start, end, refetch_days)):
        table, meta, requests = fetch(client, property_id, first, last, page_size, policy, timeout)
        table, erased = suppression.without_suppressed(SOURCE, table)
        result.erased += erased
        result.requests += requests
        result.days += write_days(table, meta, first, last, fetched_for=end)
        result.rows += table.num_rows
    return result
