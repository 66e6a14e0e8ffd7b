"""generate(): one run of the sample-data generator, from persons to landing files and the truth about them.

Two lanes share the two cores: the main thread builds the big, linked sources (newsletter -> web -> orders);
a helper thread builds and writes the small ones. numpy and pyarrow release the GIL in their heavy loops, and
every random stream is independent of scheduling, so the output stays byte-identical.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hourglass.sources import CONTRACTS

from . import (
    catalogue,
    crm,
    history,
    leads,
    newsletter,
    nps,
    orders,
    people,
    service,
    social,
    subscriptions,
    truth,
    web,
)
from .clock import Clock
from .defects import SourceResult
from .writer import write_source

log = logging.getLogger(__name__)

# one independent random stream per part, so a change in one part leaves the others' data alone
STREAMS = {
    name: i
    for i, name in enumerate(
        (
            "people",
            "crm",
            "leads",
            "subscriptions",
            "orders",
            "newsletter",
            "web",
            "order_lines",
            "service",
            "nps",
            "social",
            "history",
        )
    )
}


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[part]]))


def generate(out: Path, customers: int, seed: int, as_of: dt.date) -> dict[str, int]:
    """Write landing files for `customers` persons into out/<source>/; returns data rows per file name."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    out = Path(out)
    clock = Clock(as_of)
    t0 = time.perf_counter()
    pop = people.build(_rng(seed, "people"), customers, clock)
    cust_no = crm.customer_numbers(pop)
    cat = catalogue.build(clock.start, clock.end)
    log.debug("people: %.2fs", time.perf_counter() - t0)

    results: dict[str, SourceResult] = {}
    email_stats: dict[str, dict] = {}
    files: dict[str, str] = {}
    crm_built: Future[SourceResult] = Future()  # the past campaigns need the CRM's consents

    def finish(name: str, res: SourceResult) -> None:
        """Write one source, note its e-mail facts, then let its text go."""
        start = time.perf_counter()
        contract = CONTRACTS[name]
        path = out / name / f"{name}_{as_of.isoformat()}.csv"
        email_stats[name] = truth.email_stats(res, pop)
        res.rows_written = write_source(
            path,
            contract,
            res.text if res.text is not None else res.columns,
            n_rows=res.n_rows,
            bom=res.bom,
            truncate_last_row=res.truncate_last_row,
            free_text=res.free_text,
        )
        res.text = None
        res.columns = {}
        files[name] = f"{name}/{path.name}"
        results[name] = res
        log.debug("%s: %d rows written in %.2fs", name, res.rows_written, time.perf_counter() - start)

    def small_lane() -> None:
        builders = {
            "crm_customers": lambda: crm.build(_rng(seed, "crm"), pop, cust_no),
            "leads": lambda: leads.build(_rng(seed, "leads"), pop, clock),
            "subscriptions": lambda: subscriptions.build(_rng(seed, "subscriptions"), pop, cust_no, clock),
            "service_tickets": lambda: service.build(_rng(seed, "service"), pop, cust_no, clock),
            "nps_responses": lambda: nps.build(_rng(seed, "nps"), pop, cust_no, clock),
            "social_mentions": lambda: social.build(_rng(seed, "social"), pop, cust_no, cat, clock),
        }
        for name, build in builders.items():
            start = time.perf_counter()
            try:
                res = build()
            except BaseException as exc:
                if not crm_built.done():
                    crm_built.set_exception(exc)
                raise
            if name == "crm_customers":
                crm_built.set_result(res)
            log.debug("%s: built in %.2fs", name, time.perf_counter() - start)
            finish(name, res)

    with ThreadPoolExecutor(max_workers=1) as helper:
        pending = [helper.submit(small_lane)]
        start = time.perf_counter()
        book = orders.plan(_rng(seed, "orders"), pop, cat, clock)
        esp, clicks = newsletter.build(_rng(seed, "newsletter"), pop, cat, clock, seed)
        log.debug("esp_events: built in %.2fs", time.perf_counter() - start)
        pending.append(helper.submit(finish, "esp_events", esp))
        start = time.perf_counter()
        ga4, funnel = web.build(_rng(seed, "web"), pop, clicks, book, cat, clock, seed)
        log.debug("ga4_web: built in %.2fs", time.perf_counter() - start)
        pending.append(helper.submit(finish, "ga4_web", ga4))
        start = time.perf_counter()
        known = history.Known(pop, book, clicks, crm_built.result())
        experiments, goals = history.send(out, known, clock)
        campaigns = history.plant(_rng(seed, "history"), known, cat, experiments, goals)
        log.debug("campaign history: built in %.2fs", time.perf_counter() - start)
        start = time.perf_counter()
        erp = orders.build(_rng(seed, "order_lines"), book, pop, cust_no, cat, clock)
        log.debug("erp_orders: built in %.2fs", time.perf_counter() - start)
        pending.append(helper.submit(finish, "erp_orders", erp))
        del esp, ga4, erp
        for job in pending:
            job.result()

    written = {Path(files[name]).name: results[name].rows for name in CONTRACTS}
    extra = out / "social_mentions" / f"social_mentions_{as_of.isoformat()}_extra.csv"
    extra.write_bytes(b"")
    written[extra.name] = 0

    start = time.perf_counter()
    ordered = {name: results[name] for name in CONTRACTS}
    meta = {
        "customers": customers,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "extra_files": {f"social_mentions/{extra.name}": "empty (0 bytes), as real exports sometimes leave"},
    }
    emails = truth.email_facts({name: email_stats[name] for name in CONTRACTS}, pop)
    truth.write(out / "_truth", ordered, files, pop, funnel.as_dict(), meta, emails, campaigns)
    log.debug("truth: %.2fs; total %.2fs", time.perf_counter() - start, time.perf_counter() - t0)
    return written
