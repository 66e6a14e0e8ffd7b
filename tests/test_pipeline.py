"""The thin slice end to end: landing -> lake -> dbt staging -> audience -> outbox, run by Dagster."""

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import consent_oracle
import dagster as dg
import duckdb
import fault_log
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import AS_OF, WINDOW_DAYS

from hourglass import lake, settings
from hourglass.activation import in_holdout
from hourglass.channels.ads import hashed_identifiers


@pytest.fixture(scope="module")
def consent_truth(pipeline) -> dict[str, dict[str, str]]:
    """Everyone in customer_360 (key, CRM id, e-mail, as the audiences carry them) -> purpose -> granted, refused or
    unclear, worked out by tests/consent_oracle.py, not by hourglass.consent; CRM ids map to their customer's."""
    home, _ = pipeline
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        people = con.sql("select customer_key, crm_customer_id, email from customer_360").fetchall()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        truth = consent_oracle.consent_states([{"customer_key": k, "customer_id": c, "email": e} for k, c, e in people])
    return truth | {c: truth[k] for k, c, _ in people if c is not None}


def _expected_welcome(consent_truth) -> pd.DataFrame:
    """The campaign rule, recomputed in pandas from the lake rather than taken from dbt."""
    crm = duckdb.sql(f"select * from read_parquet('{lake.raw_glob('crm_customers')}', union_by_name = true)").df()
    latest = crm.sort_values(["updated_at", "load_date"]).groupby("customer_id").tail(1)
    created = pd.to_datetime(latest["created_at"]).dt.date
    email = latest["email"].str.strip().str.lower().replace("", None)
    granted = latest["customer_id"].map(lambda c: consent_truth.get(c, {}).get("email_marketing") == "granted")
    keep = granted & email.notna() & (created > AS_OF - timedelta(days=WINDOW_DAYS)) & (created <= AS_OF)
    out = latest[keep].assign(email=email[keep])
    return out.set_index("customer_id")


def _receipts(home, campaign: str) -> pd.DataFrame:
    """What activation recorded for a campaign in the run's send window (the sample's past sends left out), with
    the CRM id beside each customer key."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        keys = con.sql("select customer_key, crm_customer_id as customer_id from customer_360").df()
    receipts = duckdb.sql(
        f"select * from read_parquet('{lake.raw_glob('activation_receipts')}')"
        f" where campaign = '{campaign}' and send_window = '{AS_OF}'"
    ).df()
    return receipts.merge(keys, on="customer_key", how="left")


def _key(home, customer_id: str) -> str:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select customer_key from customer_360 where crm_customer_id = ?", [customer_id]).fetchone()[
            0
        ]


def test_outbox_holds_one_message_per_eligible_customer(pipeline, consent_truth):
    home, _ = pipeline
    outbox = home / "outbox" / "email" / "welcome_new_members" / f"{AS_OF}.jsonl"
    messages = {m["customer_id"]: m for m in map(json.loads, outbox.read_text().splitlines())}
    expected = _expected_welcome(consent_truth)
    receipts = _receipts(home, "welcome_new_members")
    held_out = set(receipts.loc[receipts.status == "held_out", "customer_id"])
    suppressed = set(receipts.loc[receipts.status == "suppressed", "customer_id"])

    # Everyone eligible is messaged, held out (about 10%, by hash) or suppressed with a reason; never two of these.
    assert set(messages) | held_out | suppressed == set(expected.index)
    assert not set(messages) & (held_out | suppressed)
    assert held_out == {c for c in expected.index if in_holdout("welcome_new_members", _key(home, c), 0.1)}
    assert {"T1", "T3"} <= set(messages) | held_out and not {"T2", "T4", "T5", "T6"} & set(messages)
    assert len(messages) > 2, "the generated data should bring its own new members"
    for customer_id, row in expected.loc[sorted(messages)].iterrows():
        message = messages[customer_id]
        key = hashlib.sha256(f"welcome_new_members|{message['customer_key']}|email|{AS_OF}".encode()).hexdigest()
        assert message["key"] == key[:32]
        assert message["to"] == row["email"]
        assert message["send_window"] == AS_OF.isoformat()
        if row["first_name"]:
            assert row["first_name"].strip() in message["subject"]
        if row["language"] == "nl":
            assert message["subject"].startswith("Welkom")
        else:  # en, and the fallback for languages without a template
            assert message["subject"].startswith("Welcome")
        assert "utm_campaign=welcome_new_members" in message["body"]

    assert messages["T1"]["to"] == "anouk.visser@example.nl"
    assert messages["T1"]["subject"] == "Welkom bij het Huis, Anouk!"
    assert "3 dagen" in messages["T1"]["body"]
    assert messages["T3"]["subject"] == "Welcome to the House, Jürgen!"


def test_rerunning_the_send_window_rewrites_instead_of_appending(pipeline_copy):
    home, _ = pipeline_copy
    outbox = home / "outbox" / "email" / "welcome_new_members" / f"{AS_OF}.jsonl"
    before = outbox.read_text()
    from hourglass.definitions import defs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        job = defs.resolve_job_def("nightly")
        again = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(["activation", "welcome_new_members"])],
        )
    assert again.success
    assert outbox.read_text() == before


def test_every_layer_reported_its_counts(pipeline, consent_truth):
    _, result = pipeline
    materialized = {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    crm = materialized["crm_customers"]
    assert crm["rows_in"].value == crm["rows_loaded"].value + crm["rows_quarantined"].value
    assert crm["rows_quarantined"].value > 0  # the generator plants bad rows
    web = materialized["ga4_web"]
    assert web["embedded_emulator"].value is True and web["rows_loaded"].value > 0
    assert web["days_fetched"].value == 401  # backfill_days + today, one partition each
    activation = materialized["activation/welcome_new_members"]
    assert activation["audience_size"].value == len(_expected_welcome(consent_truth))
    accounted = sum(v.value for k, v in activation.items() if k.startswith("email_") or k == "held_out")
    assert accounted == activation["audience_size"].value
    assert activation["result_sent"].value == activation["email_to_send"].value
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks.get("not_null_stg_crm_customers_customer_id") is True


def test_lineage_runs_source_to_staging_to_audience_to_activation(dbt_manifest):
    from hourglass.definitions import defs

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey

    def parents(k):
        return set(graph.get(k).parent_keys)

    def ancestors(k):
        found, todo = set(), [k]
        while todo:
            for parent in parents(todo.pop()) - found:
                found.add(parent)
                todo.append(parent)
        return found

    assert key("crm_customers") in parents(key("stg_crm_customers"))
    assert key("customer_360") in parents(key("welcome_new_members"))
    # the audience, and the sources send-time consent is read from
    assert parents(key(["activation", "welcome_new_members"])) == {
        key("welcome_new_members"),
        *map(key, ["crm_customers", "leads", "esp_events"]),
    }
    # every source reaches the abandoner campaign through the dbt models
    upstream = ancestors(key(["activation", "workshop_signup_abandoners"]))
    assert {
        key("ga4_web"),
        key("erp_orders"),
        key("crm_customers"),
        key("stg_ga4_web"),
        key("identity_map"),
    } <= upstream
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["crm_customers"] == "ingest"
    assert groups["stg_crm_customers"] == groups["welcome_new_members"] == "model"
    assert groups["activation/welcome_new_members"] == "activate"


def test_definitions_validate_with_the_dagster_cli(dbt_manifest, tmp_path):
    env = {"HOURGLASS_HOME": str(tmp_path), "PATH": f"{settings.PROJECT_ROOT / '.venv' / 'bin'}"}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "hourglass.definitions"],
        cwd=settings.PROJECT_ROOT,
        env=env | {"HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_loading_the_definitions_parses_no_dbt_and_imports_no_data_library(dbt_manifest, tmp_path):
    """The Dagster UI and every run load the definitions first: the data libraries come in when a step runs."""
    heavy = ["pandas", "duckdb", "pyarrow", "plotly", "numpy", "scipy", "google.analytics.data_v1beta"]
    probe = (
        "import sys, hourglass.definitions; "
        f"print([m for m in {heavy!r} if m in sys.modules]); "
        "print(len(hourglass.definitions.defs.resolve_asset_graph().get_all_asset_keys()))"
    )
    parsed_at = dbt_manifest.stat().st_mtime_ns
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        env={**os.environ, "HOURGLASS_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    imported, assets = done.stdout.split("\n")[:2]
    assert imported == "[]"
    assert int(assets) > 40  # the whole graph is there: sources, dbt models, campaigns
    assert dbt_manifest.stat().st_mtime_ns == parsed_at  # the manifest was read, not written again


def test_nightly_schedule_runs_the_whole_hourglass_at_two_in_amsterdam(dbt_manifest):
    from hourglass.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Amsterdam"
    assert schedule.job_name == "nightly"


def test_summary_counts_every_layer(pipeline):
    home, _ = pipeline
    from hourglass import summary

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        layers = summary.collect()
        text = summary.render(layers)
    sent = {d.name: sum(1 for f in d.rglob("*.jsonl") for _ in f.open()) for d in (home / "outbox").iterdir()}
    assert layers["outbox"] == sent and sent["email"] > 0
    assert layers["audiences"]["workshop_signup_abandoners"] > 0
    assert sum(layers["lifecycle stages"].values()) == layers["warehouse"]["customer_360"]
    assert 0 < layers["segments"]["young people"] < layers["warehouse"]["customer_360"]
    assert "where to look next" in text and str(home / "outbox") in text


def test_receipts_flow_back_into_dbt_as_treated_and_holdout_groups(pipeline_copy):
    home, _ = pipeline_copy
    from hourglass.definitions import defs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        models = ["stg_activation_receipts", "int_campaign_outcomes", "campaign_effect", "kpi_journeys"]
        again = defs.resolve_job_def("nightly").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg.AssetKey(m) for m in models]
        )
    assert again.success
    receipts = _receipts(home, "welcome_new_members")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        effect = con.sql(
            f"select * from campaign_effect where campaign = 'welcome_new_members' and send_window = '{AS_OF}'"
        ).df()
    assert len(effect) == 1
    row = effect.iloc[0]
    people = receipts.drop_duplicates("customer_key")  # one receipt per person and run; runs agree
    assert row.held_out == (people.status == "held_out").sum() > 0
    assert row.treated == (people.status == "sent").sum()
    assert row.goal == "order" and not row.attribution_complete  # sent today: the window is still open
    assert row.verdict == "holdout too small to tell"  # a few new members cannot show an effect
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        journey = con.sql(
            f"select * from kpi_journeys where campaign = 'welcome_new_members' and send_window = '{AS_OF}'"
        ).df()
    assert len(journey) == 1
    journey = journey.iloc[0]
    assert journey.audience == people.customer_key.nunique()
    assert journey.reached == journey.reached_by_email == (people.status == "sent").sum()
    assert journey.held_out == row.held_out and journey.reach_share == journey.reached / journey.audience


def test_no_message_went_to_anyone_without_consent_or_held_out(pipeline, consent_truth):
    """Properties over every message and every receipt of the generated data's nightly run, on every channel, with
    consent worked out independently of the code under test (tests/consent_oracle.py)."""
    from hourglass.campaigns import Campaign, audience_nodes
    from hourglass.project import manifest

    home, _ = pipeline
    campaigns = {c.name: c for c in map(Campaign.from_manifest_node, audience_nodes(manifest()))}

    def state(campaign: str, channel: str, customer_key: str) -> str | None:
        """The state of the consent a channel needs (docs/campaigns.md); "granted" where it needs none."""
        if channel == "webhook":
            return "granted"
        needed = "ads_personalisation" if channel.endswith("_ads") else f"{channel}_{campaigns[campaign].purpose}"
        return consent_truth[customer_key].get(needed)

    # the run's own receipts: the sample's past sends were decided on consent as it stood then (test_campaign_history)
    found = duckdb.sql(
        f"select * from read_parquet('{lake.raw_glob('activation_receipts')}') where send_window = '{AS_OF}'"
    )
    receipts = [dict(zip(found.columns, row, strict=True)) for row in found.fetchall()]
    held_out = {(r["campaign"], r["customer_key"]) for r in receipts if r["status"] == "held_out"}

    sent = violations = in_holdout = 0
    for channel in ("email", "sms", "webhook"):
        for path in (home / "outbox" / channel).rglob("*.jsonl"):
            for message in map(json.loads, path.read_text().splitlines()):
                sent += 1
                violations += state(message["campaign"], channel, message["customer_key"]) != "granted"
                in_holdout += (message["campaign"], message["customer_key"]) in held_out
                if channel == "webhook":  # the CRM write-back is no message to the person, and has no contact details
                    assert not {"email", "phone", "to"} & set(message["payload"])
    assert sent > 0

    # Every suppressed row's reason agrees with consent: refused or never asked is no_consent, unclear (a
    # quarantined row touching it) is consent_unclear; what comes after the consent check had consent.
    reasons = Counter()
    wrong_reason = []
    for r in (r for r in receipts if r["status"] == "suppressed"):
        reasons[r["reason"]] += 1
        found = state(r["campaign"], r["channel"], r["customer_key"])
        ok = {
            "no_consent": found in (None, "refused"),
            "consent_unclear": found == "unclear",
            "invalid_address": found == "granted",
            "quiet_hours": found == "granted",
            "frequency_cap": found == "granted",
            "cooldown": True,  # decided before consent is looked at
        }.get(r["reason"], False)
        if not ok:
            wrong_reason.append((r["campaign"], r["channel"], r["reason"], found))
    assert not wrong_reason, wrong_reason[:5]
    assert reasons["no_consent"] > 0
    # The generator plants bad CRM and ESP rows: some people's consent is unclear, and no send reached them.
    assert any("unclear" in purposes.values() for purposes in consent_truth.values())

    # Ad audiences: hashes only, of members with ads consent who are not held out.
    hashed = exposed = 0
    for path in (home / "ads").rglob("*.csv"):
        platform, campaign = path.parent.parent.name, path.parent.name
        lines = path.read_text().splitlines()[1:]
        cells = [cell for line in lines for cell in line.split(",")]
        hashed += len(lines)
        exposed += sum(1 for cell in cells if cell and not re.fullmatch(r"[0-9a-f]{64}", cell))
        members = pq.read_table(home / "lake" / "audiences" / f"{campaign}.parquet").to_pylist()
        allowed, barred = set(), set()
        for row in members:
            ok = (campaign, row["customer_key"]) not in held_out and state(campaign, platform, row["customer_key"]) == (
                "granted"
            )
            (allowed if ok else barred).add(",".join(hashed_identifiers(row, platform)))
        shown = set(lines) & (barred - allowed)
        in_holdout += sum((campaign, r["customer_key"]) in held_out for r in members
                          if ",".join(hashed_identifiers(r, platform)) in shown)  # fmt: skip
        violations += sum((campaign, r["customer_key"]) not in held_out for r in members
                          if ",".join(hashed_identifiers(r, platform)) in shown)  # fmt: skip
    assert hashed > 0, "the generated data should fill an ad audience"
    fault_log.count("messages checked for consent and holdout", sent + hashed)
    fault_log.count("suppressed rows whose reason was checked against consent", sum(reasons.values()))
    fault_log.count(fault_log.CONSENT, violations)
    fault_log.count(fault_log.HOLDOUT, in_holdout)
    fault_log.count(fault_log.PERSONAL, exposed)
    assert violations == 0 and in_holdout == 0 and exposed == 0


def test_send_time_consent_matches_the_oracle_for_everyone(pipeline, consent_truth):
    """Over every customer of the generated data (planted bad rows included), consent.current_consent and the
    independent oracle find the same consents granted and the same unclear."""
    from hourglass.consent import current_consent

    home, _ = pipeline
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        people = con.sql("select customer_key, crm_customer_id, email from customer_360").fetchall()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        found = current_consent([{"customer_key": k, "customer_id": c, "email": e} for k, c, e in people])
    expected = {k: consent_truth[k] for k, _, _ in people}
    states = ("granted", "unclear")
    got = {k: {s: {p for p, v in expected[k].items() if v == s} for s in states} for k in expected}
    assert {k: {"granted": set(c.granted), "unclear": set(c.unclear)} for k, c in found.items()} == got
    assert sum(bool(g["unclear"]) for g in got.values()) > 0


EMAIL_TOKEN = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_TOKEN = re.compile(r"(?<![\w.])\+?\d[\d \-()]{7,}\d(?![\w.])")


def _phone_digits(value: str) -> str:
    """A phone number as international digits: '06-1234 5678', '+31 6 12345678' and '0031612345678' agree."""
    digits = re.sub(r"\D", "", value)
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0"):
        return "31" + digits[1:]
    return digits


def _contacts(home) -> tuple[set[str], set[str]]:
    """Every e-mail address and phone number in the landing files, normalised."""
    from hourglass.sources import CONTRACTS

    emails, phones = set(), set()
    for source, contract in CONTRACTS.items():
        columns = [c.name for c in contract.columns if c.type in ("email", "phone")]
        for path in (home / "landing" / source).glob("*.csv") if columns else []:
            text = path.read_text(encoding=contract.encoding, errors="replace")
            for row in csv.DictReader(io.StringIO(text), delimiter=contract.delimiter):
                for name in columns:
                    value = (row.get(name) or "").strip()
                    if "@" in value:
                        emails.add(value.lower())
                    elif len(_phone_digits(value)) >= 9:
                        phones.add(_phone_digits(value))
    return emails, phones


def test_no_raw_email_or_phone_in_logs_or_dagster_metadata(pipeline, pipeline_logs):
    """Over the generated data's nightly run: Dagster's event log (log lines, metadata of every asset and
    check, failures) and Python's log records hold no e-mail address or phone number of anyone."""
    from dagster._serdes import serialize_value

    home, _ = pipeline
    emails, phones = _contacts(home)
    assert len(emails) > 500 and len(phones) > 300  # the generated people, in every notation the sources use
    texts = [serialize_value(entry) for entry in pipeline_logs["dagster"]] + pipeline_logs["python"]
    assert len(texts) > 100 and any("rows_loaded" in t for t in texts)  # the run's metadata is in there
    exposed = set()
    for text in texts:
        exposed |= {t.lower() for t in EMAIL_TOKEN.findall(text)} & emails
        exposed |= {_phone_digits(t) for t in PHONE_TOKEN.findall(text)} & phones
    fault_log.count("log lines and Dagster events checked for e-mails and phones", len(texts))
    fault_log.count(fault_log.PERSONAL, len(exposed))
    assert not exposed, sorted(exposed)[:5]


def test_a_private_copy_of_the_pipeline_reads_and_writes_only_its_own_files(pipeline, pipeline_copy):
    home, copy = pipeline[0], pipeline_copy[0]
    with duckdb.connect(str(copy / "warehouse.duckdb"), read_only=True) as con:
        named = con.execute("select sql from duckdb_views() where contains(sql, ?)", [str(home)]).fetchall()
        audience = con.execute("select * from welcome_new_members order by customer_key").fetchall()
    assert not named  # views over the lake and the audiences' Parquet name the copy's files
    (copy / "lake" / "audiences" / "welcome_new_members.parquet").unlink()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select * from welcome_new_members order by customer_key").fetchall() == audience
