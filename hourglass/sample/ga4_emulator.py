"""A GA4 Data API emulator on loopback: the real gRPC protocol, the generated web data, injectable faults.

It answers `BetaAnalyticsData.RunReport` the way the real API does for the report hourglass asks for:
dimensions are grouped, metrics summed, rows ordered and paged with limit/offset, `row_count` and the
response metadata filled in. Anything else gets the API's own error codes (INVALID_ARGUMENT for an unknown
field, PERMISSION_DENIED for another property). Faults queued with `inject` are served first, one a call,
so tests can walk the official client through 429s, 5xx, slow answers, hangs and broken bodies.
"""

import threading
import time
from collections import deque
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import duckdb
import grpc
from google.analytics.data_v1beta.types import MetricType, RunReportRequest, RunReportResponse

SERVICE = "google.analytics.data.v1beta.BetaAnalyticsData"
DIMENSIONS = {
    "date": "strftime(date, '%Y%m%d')",
    "customUser:hg_visitor_id": "visitor_id",
    "sessionSourceMedium": "session_source_medium",
    "pagePath": "page_path",
    "eventName": "event_name",
}
METRICS = {"eventCount": "event_count", "sessions": "sessions", "userEngagementDuration": "engagement_seconds"}
METRIC_TYPES = {
    "eventCount": MetricType.TYPE_INTEGER,
    "sessions": MetricType.TYPE_INTEGER,
    "userEngagementDuration": MetricType.TYPE_SECONDS,
}
MAX_LIMIT = 250_000


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour: an error status, a delay before answering, no answer at all, or a broken body."""

    status: grpc.StatusCode | None = None
    delay: float = 0.0
    hang: bool = False  # never answer: the call ends when the client gives up (its deadline) or the server stops
    truncate: bool = False  # answer with half of a valid body
    cut_rows: bool = False  # answer with the body cut after half of its rows: shorter, but it still decodes
    garbage: bool = False  # answer with bytes that are not a RunReportResponse
    message: str = "injected fault"


class Ga4Emulator:
    def __init__(
        self,
        data_file: Path,
        property_id: str = "properties/000000",
        time_zone: str = "Europe/Amsterdam",
        thresholded: bool = False,
        keep_answers: bool = True,
    ):
        self.property_id = property_id
        self.keep_answers = keep_answers  # off where memory matters more than answering a repeat fast
        self.time_zone = time_zone
        self.thresholded = thresholded
        self.calls = 0
        self._faults: deque[Fault] = deque()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._cache: dict[bytes, bytes] = {}
        self._report: tuple | None = None  # the report whose pages are being served, grouped and sorted once
        self._con = duckdb.connect()
        # GA reports a dimension it did not get as "(not set)" and never serves a row without a date or count.
        self._con.execute(
            f"""
            create table web as
            select cast(try_strptime(date, ['%Y-%m-%d', '%Y%m%d']) as date) as date,
                   coalesce(nullif(trim(visitor_id), ''), '(not set)') as visitor_id,
                   coalesce(nullif(trim(session_source_medium), ''), '(not set)') as session_source_medium,
                   coalesce(nullif(trim(page_path), ''), '(not set)') as page_path,
                   coalesce(nullif(trim(event_name), ''), '(not set)') as event_name,
                   try_cast(event_count as bigint) as event_count, try_cast(sessions as bigint) as sessions,
                   try_cast(engagement_seconds as double) as engagement_seconds
            from read_csv('{data_file}', header = true, all_varchar = true, delim = ',', quote = '"')
            """
        )
        self._con.execute("delete from web where date is null or event_count is null")
        self._server: grpc.Server | None = None
        self.address = ""

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def start(self) -> str:
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "RunReport": grpc.unary_unary_rpc_method_handler(
                    self._run_report,
                    request_deserializer=RunReportRequest.pb().FromString,
                    response_serializer=lambda body: body,  # the handler returns wire bytes already
                )
            },
        )
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_send_message_length", 512 * 2**20)]
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self.address

    def stop(self) -> None:
        self._stopping.set()  # hung calls end
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
        self._con.close()

    def __enter__(self) -> "Ga4Emulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run_report(self, request, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.calls += 1
            fault = self._faults.popleft() if self._faults else None
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.hang:
            while context.is_active() and not self._stopping.wait(0.01):
                pass
            context.abort(grpc.StatusCode.CANCELLED, "the call was abandoned")  # nobody is listening any more
        if fault and fault.status is not None:
            context.abort(fault.status, fault.message)
        body = self._answer(request, context)
        if fault and fault.truncate:
            return body[: len(body) // 2]
        if fault and fault.cut_rows:
            # Fields go out in field-number order, headers and rows first: this is a prefix of the body.
            full = RunReportResponse.pb().FromString(body)
            cut = RunReportResponse.pb()(dimension_headers=full.dimension_headers, metric_headers=full.metric_headers)
            cut.rows.extend(full.rows[: len(full.rows) // 2])
            return cut.SerializeToString()
        if fault and fault.garbage:
            return b"\xff\xff\xff\xff not a protobuf"
        return body

    def _answer(self, request, context: grpc.ServicerContext) -> bytes:
        key = request.SerializeToString(deterministic=True)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if request.property != self.property_id:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"User does not have sufficient permissions for {request.property}"
            )
        dims = [d.name for d in request.dimensions]
        mets = [m.name for m in request.metrics]
        unknown = [n for n in dims if n not in DIMENSIONS] + [n for n in mets if n not in METRICS]
        if unknown or not request.date_ranges:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Field {unknown[0] if unknown else 'dateRanges'} is not a valid field",
            )
        limit = request.limit or 10_000
        if limit > MAX_LIMIT:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be at most {MAX_LIMIT}")
        date_range = request.date_ranges[0]
        group = ", ".join(DIMENSIONS[d] for d in dims)
        sums = ", ".join(f"cast(coalesce(sum({METRICS[m]}), 0) as varchar)" for m in mets)
        where = "date between try_cast($start as date) and try_cast($end as date)"
        span = {"start": date_range.start_date, "end": date_range.end_date}
        with self._lock:  # one DuckDB connection: queries take turns
            report = (group, sums, date_range.start_date, date_range.end_date)
            if self._report != report:  # a client pages through one report: group it once, not once a page
                self._con.execute(
                    f"create or replace temp table report as "
                    f"select {group}, {sums} from web where {where} group by all order by all",
                    span,
                )
                self._report = report
            row_count = self._con.execute("select count(*) from report").fetchone()[0]
            rows = self._con.execute(
                "select * from report limit $limit offset $offset", {"limit": limit, "offset": request.offset}
            ).fetchall()
        response = RunReportResponse.pb()(kind="analyticsData#runReport", row_count=row_count)
        for name in dims:
            response.dimension_headers.add(name=name)
        for name in mets:
            response.metric_headers.add(name=name, type_=METRIC_TYPES[name])
        n = len(dims)
        for values in rows:
            row = response.rows.add()
            for value in values[:n]:
                row.dimension_values.add(value=value)
            for value in values[n:]:
                row.metric_values.add(value=value)
        response.metadata.time_zone = self.time_zone
        response.metadata.currency_code = "EUR"
        response.metadata.subject_to_thresholding = self.thresholded
        response.metadata.data_loss_from_other_row = False
        if request.return_property_quota:
            response.property_quota.tokens_per_day.consumed = 10
            response.property_quota.tokens_per_day.remaining = max(0, 200_000 - 10 * self.calls)
            response.property_quota.tokens_per_hour.consumed = 10
            response.property_quota.tokens_per_hour.remaining = max(0, 40_000 - 10 * self.calls)
        body = response.SerializeToString()
        if self.keep_answers:
            self._cache[key] = body
        return body
