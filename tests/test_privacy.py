"""Erasure, access and retention (docs/privacy.md): a person planted in every source, forgotten, delivered again."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_landing

from hourglass.privacy import audit

AS_OF = date(2026, 11, 20)
CUSTOMERS = 300  # a small generated crowd around the planted person: the pipeline runs twice


def _ts(days_before: int) -> str:
    return f"{AS_OF - timedelta(days=days_before)}T09:30:00"


def _erp_ts(days_before: int) -> str:
    return (AS_OF - timedelta(days=days_before)).strftime("%d-%m-%Y 10:00")


# The person, as each source writes them: case, spaces and phone notation differ from source to source.
FIRST, LAST, CRM_ID, VISITOR = "Zephyrine", "Quarendon", "P900001", "vis-zq-9"
EMAIL = "zephyrine.quarendon@example.nl"
PHONE_E164 = "+31698765432"
# Needles the scan looks for: the address, the phone number however written, both names.
NEEDLES = [EMAIL, PHONE_E164, "0698765432", "06 9876 5432", "06-98765432", "98765432", FIRST, LAST]

PLANTED = {
    "crm_customers": [
        {"customer_id": CRM_ID, "first_name": FIRST, "last_name": LAST, "email": f"  {EMAIL.title()} ",
         "phone": "06 9876 5432", "country": "NL", "city": "Utrecht", "language": "nl", "created_at": _ts(3),
         "updated_at": _ts(3), "consent_email_marketing": "true", "consent_ads_personalisation": "true"},
        # a later version with a broken date: quarantined, raw fields and all
        {"customer_id": CRM_ID, "first_name": FIRST, "last_name": LAST, "email": EMAIL, "phone": "06-98765432",
         "created_at": "yesterday-ish", "updated_at": _ts(1)},
    ],
    "leads": [
        {"lead_id": "L-ZQ-1", "email": EMAIL.upper(), "first_name": FIRST, "last_name": LAST, "phone": "+31 6 98765432",
         "source": "web_form", "interest": "workshop", "created_at": _ts(20), "consent_email_marketing": "true"},
    ],
    "subscriptions": [
        {"subscription_id": "S-ZQ-1", "customer_id": CRM_ID, "product": "magazine_digital",
         "start_date": str(AS_OF - timedelta(days=2)), "status": "active", "price_eur": "4.50", "updated_at": _ts(2)},
    ],
    "erp_orders": [
        {"order_id": "O-ZQ-1", "line_no": "1", "customer_id": CRM_ID, "order_at": _erp_ts(2), "product_id": "WS-zq",
         "product_name": "Keramiek", "category": "workshop", "quantity": "1", "unit_price": "45,00",
         "line_amount": "45,00", "currency": "EUR", "status": "completed", "updated_at": _erp_ts(2)},
        {"order_id": "O-ZQ-2", "line_no": "1", "email": f" {EMAIL} ", "order_at": _erp_ts(30),
         "product_id": "TH-zq", "product_name": "Hamlet", "category": "ticket", "quantity": "2", "unit_price": "30,00",
         "line_amount": "60,00", "currency": "EUR", "status": "completed", "updated_at": _erp_ts(30)},
    ],
    "esp_events": [
        {"event_id": "EV-ZQ-1", "subscriber_id": "SUB-ZQ", "email": EMAIL, "event_type": "click",
         "event_at": _ts(4), "mailing_id": "NB-zq", "url": f"https://example.nl/workshops?hg_vid={VISITOR}",
         "tracking_id": VISITOR},
    ],
    "service_tickets": [
        {"ticket_id": "TK-ZQ-1", "customer_id": CRM_ID, "email": EMAIL, "opened_at": _ts(6), "channel": "email",
         "category": "workshops", "is_complaint": "false", "status": "resolved"},
    ],
    "nps_responses": [
        {"response_id": "R-ZQ-1", "customer_id": CRM_ID, "email": EMAIL, "score": "9",
         "comment": f"{FIRST} {LAST} here;\nlovely evening", "touchpoint": "performance", "responded_at": _ts(5)},
    ],
    "social_mentions": [
        {"mention_id": "M-ZQ-1", "platform": "instagram", "handle": "@zephyrine_q", "text": f"{FIRST} loves it",
         "sentiment": "positive", "customer_id": CRM_ID, "posted_at": _ts(7)},
    ],
}  # fmt: skip
GA4_ROW = [str(AS_OF - timedelta(days=1)), VISITOR, "newsletter / email", "/workshops/zq", "page_view", 1, 1, 40]


def plant(home: Path) -> None:
    """Write the person into every source's landing folder (GA4: the emulator's file), as the sources deliver."""
    for source, rows in PLANTED.items():
        write_landing(home, source, f"{source}_{AS_OF}_planted.csv", rows)
    (ga4_file,) = (home / "landing" / "ga4_web").glob("ga4_web_*.csv")
    text = ga4_file.read_text()
    if VISITOR not in text:
        with ga4_file.open("a", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerow(GA4_ROW)


def run_nightly(home: Path) -> dg.ExecuteInProcessResult:
    from hourglass.definitions import defs

    # A persistent instance under HOURGLASS_HOME: Dagster's run and event storage is scanned too.
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(str(home / "dagster")) as instance:
        result = defs.resolve_job_def("nightly").execute_in_process(instance=instance, partition_key=AS_OF.isoformat())
    assert result.success
    return result


@pytest.fixture(scope="module")
def planted(tmp_path_factory, dbt_manifest):
    """A small generated home with the person planted in every source, after one nightly run."""
    home = tmp_path_factory.mktemp("privacy") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        mp.setenv("HOURGLASS_NOW", f"{AS_OF}T10:00:00")
        mp.setenv("HOURGLASS_PRIVACY_SALT", "test-salt-not-for-production")
        from hourglass.sample.generator import generate

        generate(out=home / "landing", customers=CUSTOMERS, seed=7, as_of=AS_OF)
        plant(home)
        first = run_nightly(home)
        yield home, first


# --- scanning every file under HOURGLASS_HOME ---------------------------------------------------------------------


def _texts_of_parquet(path: Path) -> list[str]:
    table = pq.ParquetFile(path).read()
    return [json.dumps(table.to_pylist(), default=str, ensure_ascii=False)]


def _texts_of_duckdb(path: Path) -> list[str]:
    texts = []
    with duckdb.connect(str(path), read_only=True) as con:
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() where not internal"
        ).fetchall():
            texts.append(json.dumps(con.execute(f'select * from "{schema}"."{table}"').fetchall(), default=str))
    return texts


def _texts_of_sqlite(path: Path) -> list[str]:
    texts = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        for (table,) in con.execute("select name from sqlite_master where type = 'table'").fetchall():
            texts.append(json.dumps(con.execute(f'select * from "{table}"').fetchall(), default=str))
    return texts


DECODED: set[str] = set()  # the top folders (or files) under HOURGLASS_HOME whose files a scan decoded


def scan(home: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every needle found in any file under `home`: decoded contents of Parquet, DuckDB and
    SQLite files, and the raw bytes of every file (UTF-8 and Latin-1, case ignored)."""
    found, decoded = [], 0
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts = [data.decode("utf-8", errors="replace"), data.decode("latin-1")]
        if data[:4] == b"PAR1":
            texts += _texts_of_parquet(path)
            decoded += 1
        elif data[:16] == b"SQLite format 3\x00":
            texts += _texts_of_sqlite(path)
            decoded += 1
        elif data[8:12] == b"DUCK":
            texts += _texts_of_duckdb(path)
            decoded += 1
        if len(texts) > 2:
            DECODED.add(path.relative_to(home).parts[0])
        text = "\n".join(texts).lower()
        found += [(str(path.relative_to(home)), n) for n in needles if n.lower() in text]
    assert decoded > 10, "the scan decoded too few files to mean anything"
    return found


# --- the tests ------------------------------------------------------------------------------------------------------


def test_scan_finds_the_planted_person_before_forgetting(planted):
    """The scan is real: before forgetting, it finds the person in the landing files, the lake (Parquet), the
    warehouse (DuckDB) and the outbox; the first night sent them a message."""
    home, _ = planted
    places = {file.split("/")[0] for file, _ in scan(home, NEEDLES)}
    assert {"landing", "lake", "warehouse.duckdb", "outbox"} <= places
    # Parquet, the warehouse, the ledger and Dagster's own SQLite storage were read as tables, not only as bytes
    assert {"lake", "warehouse.duckdb", "ledger", "dagster"} <= DECODED
    assert any(EMAIL in p.read_text().lower() for p in (home / "outbox").rglob("*.jsonl"))


def test_export_holds_every_planted_record_and_nobody_elses(planted, tmp_path):
    from hourglass.privacy.export import export_person

    home, _ = planted
    out = tmp_path / "export.json"
    result = export_person("email", f" {EMAIL.upper()}", out, reason="request 2026-17")
    found = json.loads(out.read_text())

    keys = {"crm_customers": "customer_id", "leads": "lead_id", "subscriptions": "subscription_id",
            "erp_orders": "order_id", "esp_events": "event_id", "service_tickets": "ticket_id",
            "nps_responses": "response_id", "social_mentions": "mention_id"}  # fmt: skip
    for source, rows in PLANTED.items():
        exported = found["source_records"][source]
        loaded = [r for r in rows if "yesterday" not in r.get("created_at", "")]  # not the quarantined version
        planted_keys = {r[keys[source]] for r in loaded}
        assert {r[keys[source]] for r in exported} == planted_keys, source  # every record, nobody else's
    assert [r["visitor_id"] for r in found["source_records"]["ga4_web"]] == [VISITOR]
    (quarantined,) = found["quarantined_records"]["crm_customers"]
    assert quarantined["raw_fields"]["created_at"] == "yesterday-ish"
    # the customer view, segments and the identity of exactly one person
    assert len(found["customer_keys"]) == 1
    for table in ("customer_360", "customer_segments", "identity_map"):
        assert {r["customer_key"] for r in found["warehouse"][table]} == set(found["customer_keys"]), table
    assert len(found["warehouse"]["customer_360"]) == 1
    assert {r["source_key"] for r in found["warehouse"]["identity_map"]} >= {CRM_ID, "L-ZQ-1", "SUB-ZQ", VISITOR}
    # audiences, messages and receipts: theirs only
    assert "welcome_new_members" in found["audiences"]
    for rows in found["audiences"].values():
        assert {r["customer_key"] for r in rows} == set(found["customer_keys"])
    assert found["messages"] and {m["customer_key"] for m in found["messages"]} == set(found["customer_keys"])
    assert found["outbox"] and all(m.get("to", EMAIL) == EMAIL for m in found["outbox"])
    assert found["receipts"] and {r["customer_key"] for r in found["receipts"]} == set(found["customer_keys"])
    # the audit log has the export, without personal data
    entry = audit.entries()[-1]
    assert entry["action"] == "export_person" and entry["id"] == result["audit_id"]
    assert not [n for n in NEEDLES if n.lower() in json.dumps(entry).lower()]


def test_forgotten_person_is_nowhere_after_a_second_night_over_the_same_files(planted):
    """Done-when of issue 21: forget, the sources deliver the person again, the nightly runs again: their e-mail,
    phone and name are in no file under HOURGLASS_HOME, no message went to them, and the load counted them erased."""
    from hourglass.privacy.forget import forget

    home, _ = planted
    result = forget("email", EMAIL, reason="request 2026-18")
    assert result["customers"] == 1 and result["records"] >= 10
    assert result["lake_rows"] > 0 and result["warehouse_rows"] > 0 and result["outbox_messages"] > 0

    # The CRM (and every other source) still exports them: the same landing files are delivered again.
    for source in PLANTED:
        (home / "landing" / source / f"{source}_{AS_OF}_planted.csv").unlink()
    plant(home)
    second = run_nightly(home)

    assert scan(home, NEEDLES) == []
    # no message to them: none in the outbox (the scan), and the ledger knows no key under their customer key;
    # the keys of what was sent before stay, under a salted hash
    again = hashlib.md5(f"crm:{CRM_ID}".encode()).hexdigest()[:16]  # identity_map's key, were they linked again
    with sqlite3.connect(home / "ledger" / "sends.sqlite") as con:
        assert con.execute("select count(*) from messages where customer_key = ?", [again]).fetchone()[0] == 0
        kept = con.execute("select count(*) from messages where customer_key like 'forgotten:%'").fetchone()[0]
    assert kept == result["ledger_messages_pseudonymised"] > 0
    # at the door: their rows dropped at load and counted, rows in = loaded + quarantined + erased
    crm = _metadata(second, "crm_customers")
    assert crm["rows_erased"].value == len(PLANTED["crm_customers"])
    assert crm["rows_in"].value == crm["rows_loaded"].value + crm["rows_quarantined"].value + crm["rows_erased"].value
    # GA4 delivers their web visits again through its API: left out before writing, as the landing files' rows
    assert _metadata(second, "ga4_web")["rows_erased"].value == 1
    # their record keys and visitor id are gone too (the GA4 emulator's own file stands for Google's storage)
    keys = [CRM_ID, "L-ZQ-1", "SUB-ZQ", "O-ZQ-1", "TK-ZQ-1", "R-ZQ-1", "M-ZQ-1", VISITOR]
    assert [(f, n) for f, n in scan(home, keys) if not f.startswith("landing/ga4_web/")] == []
    actions = [e["action"] for e in audit.entries()]
    assert "forget" in actions
    assert not [n for n in NEEDLES if n.lower() in (home / "privacy" / "audit.jsonl").read_text().lower()]


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    return event.event_specific_data.materialization.metadata


def test_suppression_at_load_counts_erased_rows(home, monkeypatch):
    """A landing file delivering a forgotten person again: their rows never reach the lake or its quarantine."""
    from hourglass import landing
    from hourglass.privacy import identifiers as ids
    from hourglass.privacy import suppression
    from hourglass.sources import CONTRACTS

    monkeypatch.setenv("HOURGLASS_PRIVACY_SALT", "s")
    rows = PLANTED["crm_customers"] + [
        {"customer_id": "C1", "first_name": "Other", "email": "other@example.nl", "created_at": _ts(3),
         "updated_at": _ts(3)},
        {"customer_id": "C2", "email": "other2@example.nl", "created_at": "bad", "updated_at": _ts(3)},
    ]  # fmt: skip
    path = write_landing(home, "crm_customers", f"crm_customers_{AS_OF}.csv", rows)
    suppression.add([ids.hashed(ids.identifier("email", EMAIL))])
    (result,) = landing.load_source(CONTRACTS["crm_customers"])
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined, result.rows_erased) == (4, 1, 1, 2)
    assert EMAIL not in path.read_text(encoding="utf-8-sig").lower()
    (again,) = landing.load_source(CONTRACTS["crm_customers"])  # unchanged since: not loaded nor scrubbed again
    assert again.skipped and again.rows_erased == 2


def test_forget_job_from_the_ui(home, monkeypatch, dbt_manifest):
    """The Dagster job `forget`, launched with the person's phone number as another source wrote it."""
    from hourglass.definitions import defs

    monkeypatch.setenv("HOURGLASS_PRIVACY_SALT", "s")
    other = {"lead_id": "L-2", "email": "someone@example.nl", "created_at": _ts(3)}
    path = write_landing(home, "leads", f"leads_{AS_OF}.csv", [*PLANTED["leads"], other])
    instance = dg.DagsterInstance.ephemeral()
    run = defs.resolve_job_def("forget").execute_in_process(
        run_config={"ops": {"forget_person": {"config": {"phone": "0031 (0)6-98765432", "reason": "ticket 7"}}}},
        instance=instance,
    )
    assert run.success
    assert [r["lead_id"] for r in csv.DictReader(path.open(encoding="utf-8-sig"))] == ["L-2"]
    entry = audit.entries()[-1]
    assert (entry["action"], entry["reason"], entry["removed"]["landing_rows"]) == ("forget", "ticket 7", 1)
    assert entry["asked_by"] == f"dagster run {run.run_id}"
    # the run's config holds the phone number: the next retention run deletes the finished forget runs
    from hourglass.assets.privacy import privacy_retention

    assert dg.materialize([privacy_retention], instance=instance).success
    assert instance.get_runs(filters=dg.RunsFilter(job_name="forget")) == []


def test_a_different_salt_is_refused(home, monkeypatch):
    from hourglass.privacy import suppression

    monkeypatch.setenv("HOURGLASS_PRIVACY_SALT", "first")
    suppression.add(["abc"])
    monkeypatch.setenv("HOURGLASS_PRIVACY_SALT", "second")
    with pytest.raises(suppression.SaltChanged):
        suppression.current()


def _partition(home: Path, dataset: str, day: date, table: pa.Table) -> None:
    folder = home / "lake" / dataset / f"load_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part.parquet")


def test_retention_removes_what_is_older_than_its_period(home, monkeypatch):
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
    monkeypatch.setenv("HOURGLASS_RETENTION_DAYS", "365")
    monkeypatch.setenv("HOURGLASS_RETENTION_DAYS_ESP_EVENTS", "30")
    rows = pa.table({"x": [1]})
    old, recent, ancient = AS_OF - timedelta(days=100), AS_OF - timedelta(days=10), AS_OF - timedelta(days=400)
    for day in (ancient, old, recent):
        for source in ("esp_events", "leads"):
            _partition(home, f"raw/{source}", day, rows)
            _partition(home, f"quarantine/{source}", day, rows)
            write_landing(home, source, f"{source}_{day}.csv", [])
        _partition(home, "raw/activation_receipts", day, rows)
        outbox = home / "outbox" / "email" / "welcome_new_members" / f"{day}.jsonl"
        outbox.parent.mkdir(parents=True, exist_ok=True)
        outbox.write_text("{}\n")
    _partition(home, "raw/crm_customers", ancient, rows)  # the only CRM export: its current state, kept
    _partition(home, "quarantine/leads", date(1970, 1, 1), rows)  # the stub every quarantine keeps

    from hourglass.assets.privacy import privacy_retention

    run = dg.materialize([privacy_retention], instance=dg.DagsterInstance.ephemeral())
    assert run.success
    said = _metadata(run, "privacy_retention")

    def left(dataset: str) -> list[str]:
        return sorted(p.name.split("=")[1] for p in (home / "lake" / dataset).glob("load_date=*"))

    assert left("raw/esp_events") == [str(recent)]  # 30 days for this source
    assert left("raw/leads") == [str(old), str(recent)]  # the default 365
    assert left("raw/crm_customers") == [str(ancient)]
    assert left("quarantine/esp_events") == [str(recent)]  # 90 days
    assert left("quarantine/leads") == ["1970-01-01", str(recent)]
    assert left("raw/activation_receipts") == [str(ancient), str(old), str(recent)]  # 730 days
    assert sorted(p.stem for p in (home / "outbox").rglob("*.jsonl")) == [str(recent)]
    assert sorted(p.name for p in (home / "landing" / "esp_events").iterdir()) == [f"esp_events_{recent}.csv"]
    assert not list((home / "lake").rglob(".tmp-*"))
    assert said["removed_partitions"].value["raw/esp_events"] == [str(ancient), str(old)]
    assert said["partitions"].value == 7 and said["files"].value == 3 + 2  # landing files; outbox files
    entry = audit.entries()[-1]
    assert entry["action"] == "retention" and entry["asked_by"] == f"dagster run {run.run_id}"
    assert entry["removed_partitions"]["raw/leads"] == [str(ancient)]


def test_identity_sources_follow_the_dbt_model():
    """The identifiers erasure looks for are the ones int_identity_links links by, for every landing source."""
    from hourglass.privacy import identifiers as ids
    from hourglass.sources import CONTRACTS

    sources = ids.identity_sources()
    assert set(sources) == set(CONTRACTS)
    for source, identity in sources.items():
        columns = set(CONTRACTS[source].column_names)
        assert identity.key in columns and set(identity.identifiers.values()) <= columns, source
    assert re.fullmatch(r"[0-9a-f]{64}", ids.hashed("email:a@b.nl", "salt"))


@pytest.mark.parametrize(
    "server_says",
    [b"5.1.1 <Zephyrine.Quarendon@example.nl>: Recipient address rejected", b"no such user zq@example.nl"],
)
def test_a_mail_servers_refusal_keeps_no_address(server_says):
    """The reason a refused message gets (ledger, receipts, logs) names no address the server quoted."""
    from hourglass.channels.smtp import SmtpSender

    outcome = SmtpSender._refused({"key": "k"}, 550, server_says)
    assert outcome.status == "rejected" and outcome.reason.startswith("SMTP 550: ")
    assert "@" not in outcome.reason and "[redacted]" in outcome.reason


def test_redaction_takes_out_phone_numbers_and_keeps_other_numbers():
    from hourglass.redact import redact

    assert redact("gateway: invalid number +31 6 98765432 (code 21211)") == (
        "gateway: invalid number [redacted] (code 21211)"
    )
    assert redact("bad recipient 06-98765432") == "bad recipient [redacted]"
    assert redact("timeout after 120000 ms on port 2525") == "timeout after 120000 ms on port 2525"


def test_forget_from_the_command_line(home, monkeypatch, capsys):
    """`hourglass forget` on a home with landing files only (nothing built yet): the identifier alone is enough."""
    from hourglass.cli import main

    monkeypatch.setenv("HOURGLASS_PRIVACY_SALT", "s")
    other = {"ticket_id": "TK-2", "email": "someone@example.nl", "opened_at": _ts(1), "channel": "email",
             "category": "other", "is_complaint": "true", "status": "open"}  # fmt: skip
    path = write_landing(home, "service_tickets", f"service_tickets_{AS_OF}.csv", [*PLANTED["service_tickets"], other])
    main(["forget", "--email", EMAIL.upper(), "--reason", "request 9"])
    assert "landing_rows: 1" in capsys.readouterr().out
    assert [r["ticket_id"] for r in csv.DictReader(path.open(encoding="utf-8-sig"))] == ["TK-2"]
    with pytest.raises(SystemExit, match="not one by hourglass' rules"):
        main(["forget", "--email", "not an address"])
    assert [e["action"] for e in audit.entries()] == ["forget"]
