"""Shared fixtures: a temporary HOURGLASS_HOME per test, one dbt parse and one pipeline run per session."""

import csv
import logging
import os
import random
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import hypothesis
import pytest

from hourglass.sources import CONTRACTS


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOURGLASS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_landing(home: Path, source: str, name: str, rows: list[dict], *, columns=None, tail: str = "") -> Path:
    """A landing file written the way the source's contract says (encoding, delimiter)."""
    contract = CONTRACTS[source]
    path = home / "landing" / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = "utf-8-sig" if contract.encoding == "utf-8" else contract.encoding
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, columns or list(contract.column_names), delimiter=contract.delimiter)
        writer.writeheader()
        writer.writerows(rows)
        fh.write(tail)
    return path


def write_web_csv(path: Path, start: date, days: int, rows: int, visitors: int, pages: int, seed: int) -> Path:
    """GA4 web rows as the emulator serves them: random visitors, pages and events over `days` days."""
    rnd = random.Random(seed)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([c.name for c in CONTRACTS["ga4_web"].columns])
        for _ in range(rows):
            day = start + timedelta(days=rnd.randrange(days))
            out.writerow([day, f"v{rnd.randrange(visitors)}", rnd.choice(["google / organic", "newsletter / email"]),
                          f"/workshops/w{rnd.randrange(pages)}", rnd.choice(["page_view", "workshop_signup_start"]),
                          rnd.randrange(1, 4), 1, rnd.randrange(0, 90)])  # fmt: skip
    return path


@pytest.fixture(scope="session")
def dbt_manifest():
    """`dbt parse` once per session, before anything imports the Dagster definitions."""
    from hourglass.project import dbt_project, prepare

    prepare()
    return dbt_project.manifest_path


AS_OF = date(2026, 11, 20)
WINDOW_DAYS = 30  # dbt_project.yml var welcome_window_days


def _ts(days_before: int) -> str:
    return f"{AS_OF - timedelta(days=days_before)}T09:30:00"


# Hand-made customers next to the generated ones, each pinning one rule of the welcome campaign.
EDGE_CASES = [
    {
        "customer_id": "T1",
        "first_name": "Anouk",
        "email": "  Anouk.Visser@Example.NL ",
        "language": "nl",
        "created_at": _ts(3),
        "updated_at": _ts(3),
        "consent_email_marketing": "true",
    },
    # consent withdrawn in a newer version of the record: the newest version wins
    {
        "customer_id": "T2",
        "first_name": "Bram",
        "email": "bram@example.nl",
        "language": "nl",
        "created_at": _ts(5),
        "updated_at": _ts(5),
        "consent_email_marketing": "true",
    },
    {
        "customer_id": "T2",
        "first_name": "Bram",
        "email": "bram@example.nl",
        "language": "nl",
        "created_at": _ts(5),
        "updated_at": _ts(1),
        "consent_email_marketing": "false",
    },
    {
        "customer_id": "T3",
        "first_name": "Jürgen",
        "email": "juergen@example.de",
        "language": "de",
        "created_at": _ts(10),
        "updated_at": _ts(10),
        "consent_email_marketing": "ja",
    },
    {
        "customer_id": "T4",
        "first_name": "Cor",
        "email": "cor@example.nl",
        "language": "nl",
        "created_at": _ts(WINDOW_DAYS + 10),
        "updated_at": _ts(2),
        "consent_email_marketing": "true",
    },
    {
        "customer_id": "T5",
        "first_name": "Dewi",
        "email": "dewi@example.nl",
        "language": "en",
        "created_at": _ts(4),
        "updated_at": _ts(4),
        "consent_email_marketing": "",
    },
    {
        "customer_id": "T6",
        "first_name": "Emma",
        "email": "",
        "language": "en",
        "created_at": _ts(4),
        "updated_at": _ts(4),
        "consent_email_marketing": "true",
    },
]


# Workshop sign-up journeys pinning the abandoner rule: (customer, workshop slug, started days ago, finished on
# the site, registered in the ERP days ago). Each customer clicked a tracked e-mail link, so web and CRM meet.
JOURNEYS = [
    ("T7", "edge-keramiek", 2, False, 1),  # registered in the ERP since: not an abandoner
    ("T8", "edge-schilderen", 2, False, None),  # abandoned: in the audience
    ("T9", "edge-fotografie", 3, True, None),  # finished on the site
    ("T10", "edge-zeefdruk", 10, False, None),  # outside the window
]


def write_journeys(home: Path) -> None:
    crm, esp, web, erp = [], [], [], []
    for customer, slug, started, finished, registered in JOURNEYS:
        visitor = f"vis-{customer.lower()}"
        crm.append({"customer_id": customer, "first_name": customer, "email": f"{customer.lower()}@example.nl",
                    "language": "nl", "created_at": _ts(400), "updated_at": _ts(400),
                    "consent_email_marketing": "true"})  # fmt: skip
        esp.append({"event_id": f"EV-{customer}", "subscriber_id": f"SUB-{customer}",
                    "email": f"{customer.lower()}@example.nl", "event_type": "click", "event_at": _ts(started + 1),
                    "mailing_id": "NB-edge", "url": f"https://example.nl/workshops/{slug}?hg_vid={visitor}",
                    "tracking_id": visitor})  # fmt: skip
        day = AS_OF - timedelta(days=started)
        page = f"/workshops/{slug}/aanmelden"
        web.append([day.isoformat(), visitor, "newsletter / email", page, "workshop_signup_start", 1, 1, 30])
        if finished:
            web.append([day.isoformat(), visitor, "newsletter / email", page + "/bedankt", "workshop_signup_complete",
                        1, 1, 10])  # fmt: skip
        if registered is not None:
            at = (AS_OF - timedelta(days=registered)).strftime("%d-%m-%Y 10:00")
            erp.append({"order_id": f"O-{customer}", "line_no": "1", "customer_id": customer, "order_at": at,
                        "product_id": f"WS-{slug}", "product_name": slug, "category": "workshop", "quantity": "1",
                        "unit_price": "45,00", "line_amount": "45,00", "currency": "EUR", "status": "completed",
                        "updated_at": at})  # fmt: skip
    write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_journeys.csv", crm)
    write_landing(home, "esp_events", f"esp_events_{AS_OF}_journeys.csv", esp)
    write_landing(home, "erp_orders", f"erp_orders_{AS_OF}_journeys.csv", erp)
    # GA4 rows go into the file the embedded emulator serves.
    (ga4_file,) = (home / "landing" / "ga4_web").glob("ga4_web_*.csv")
    with ga4_file.open("a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(web)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, dbt_manifest):
    """The demo's generated data plus the edge cases, run once through the nightly job."""
    from hourglass.cli import DEMO_CUSTOMERS, DEMO_SEED

    home = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        mp.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")  # outside every campaign's quiet hours
        from hourglass.sample.generator import generate

        generate(out=home / "landing", customers=DEMO_CUSTOMERS, seed=DEMO_SEED, as_of=AS_OF)
        write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_edge.csv", EDGE_CASES)
        write_journeys(home)

        from hourglass.definitions import defs

        instance = dg.DagsterInstance.ephemeral()
        records = _Records(level=logging.INFO)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(records)
        try:
            result = defs.resolve_job_def("nightly").execute_in_process(
                instance=instance, partition_key=AS_OF.isoformat()
            )
        finally:
            root.removeHandler(records)
            root.setLevel(level)
        assert result.success
        # What the run left in Dagster (events, logs, metadata) and in Python's logging, for the privacy test.
        PIPELINE_LOGS["dagster"] = instance.all_logs(result.run_id)
        PIPELINE_LOGS["python"] = records.messages
        yield home, result


@pytest.fixture
def pipeline_copy(pipeline, tmp_path):
    """A private copy of the session pipeline's HOURGLASS_HOME (warehouse, lake, ledger, outbox), for a test that
    changes any of them: nights run again, lake files added, partitions deleted, campaigns re-sent. What it does
    stays in its copy, so a failure cannot spread to other tests and their order does not matter."""
    home, result = pipeline
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    # Views over files (the audiences' Parquet, staging over the lake) name the original home: point them here.
    with duckdb.connect(str(copy / "warehouse.duckdb")) as con:
        views = con.execute(
            "select schema_name, sql from duckdb_views() where not internal and contains(sql, ?)", [f"'{home}/"]
        ).fetchall()
        for schema, sql in views:
            con.execute(f"set schema = '{schema}'")
            con.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1).replace(f"'{home}/", f"'{copy}/"))
    return copy, result


class _Records(logging.Handler):
    def __init__(self, level: int):
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


PIPELINE_LOGS: dict[str, list] = {}


@pytest.fixture(scope="session")
def pipeline_logs(pipeline) -> dict[str, list]:
    """The nightly run's Dagster event log and the Python log records written while it ran."""
    return PIPELINE_LOGS


# Fixtures that run dbt or the pipeline: a test asking for one is `slow`, left out of `make check`.
SLOW_FIXTURES = {"dbt_manifest", "pipeline"}


# The files that take longest, longest first: pytest-xdist hands out whole files in collection order (`make test`
# passes --no-loadscope-reorder), so these start first and the run does not end waiting on one of them.
LONGEST_FIRST = [
    "test_privacy",
    "test_spark",
    "test_incremental",
    "test_analyst",
    "test_pipeline",
    "test_overlapping_runs",
    "test_dagster_instance",
    "test_activation",
    "test_demo",
    "test_ui",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: the rest keep their order


# Hypothesis: a quick pass in `make test`, a long one in `make soak` (HYPOTHESIS_PROFILE=soak).
hypothesis.settings.register_profile("default", max_examples=60)
hypothesis.settings.register_profile("soak", max_examples=1000)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionfinish(session):
    """Under pytest-xdist (`make test`) each worker hands the faults it counted to the controller, which prints."""
    import fault_log

    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["fault_log"] = fault_log.export()


def pytest_testnodedown(node, error):
    import fault_log

    fault_log.merge(getattr(node, "workeroutput", {}).get("fault_log", {}))


def pytest_terminal_summary(terminalreporter):
    import fault_log

    if fault_log.COUNTS:
        terminalreporter.section("faults injected and what they left behind")
        for line in fault_log.table():
            terminalreporter.write_line(line)


_NOT_A_VALUE = re.compile(r"\d+")


def assert_quotes_no_row_values(message: str, path: Path) -> None:
    """An error about a landing file names the file and the contract's columns, never a value from its lines.

    Every field-like token of five or more characters (not a number, a column name of a contract or a name the
    loader reserves) must be absent from the message as a whole word; the file's own path is allowed.
    """
    names = {n.lower() for c in CONTRACTS.values() for n in c.column_names} | {"load_date", "_source_file"}
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace") + "\n" + data.decode("latin-1")
    tokens = {t.strip() for t in re.split(r'[,;"\r\n]', text)}
    message = message.replace(str(path), "")
    for token in tokens:
        if len(token) < 5 or _NOT_A_VALUE.fullmatch(token) or token.lower() in names or token.startswith("__hg_"):
            continue
        quoted = re.search(rf"(?<![\w@.+-]){re.escape(token)}(?![\w@.+-])", message)
        assert not quoted, f"the error quotes a value from the file: {token!r}"
