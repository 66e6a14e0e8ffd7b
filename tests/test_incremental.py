"""Incremental models: nightly runs that each add a few days end where a full refresh ends."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import AS_OF
from test_middle import Warehouse

from hourglass import model_steps, settings
from hourglass.project import DbtCli, dbt_project

# The incremental models, each with the day it is incremental on: the rows that belong to days.
DAILY = {
    "stg_esp_events": "event_date",
    "stg_ga4_web": "visit_date",
    "stg_erp_order_lines": "cast(updated_at as date)",
    "int_esp_events_daily": "event_date",
    "int_ga4_web_daily": "visit_date",
    "kpi_email_monthly": "event_month",
    "kpi_web_daily": "visit_date",
}
# The incremental sets: each combination of identifiers the events carry, once, whatever day it came.
SEEN_ONCE = ["int_esp_identifiers", "int_ga4_visitors"]
# Everything downstream of them that an increment could leave behind: identity, orders and the per-customer
# tables and views, counted for the run's day.
READERS = [
    *SEEN_ONCE,
    "int_identity_links",
    "int_identity_guarded_links",
    "int_identity_components",
    "identity_map",
    "identity_merge_evidence",
    "int_orders",
    "int_customer_profile",
    "int_customer_consent",
    "int_customer_orders",
    "int_customer_email",
    "int_customer_web",
    "int_customer_months",
    "kpi_lifecycle_monthly",
    "int_customer_lifecycle",
    "customer_segments",
    "int_customer_360",
    "customer_360",
]


# Everything the snapshots read and what they are built from (staging, seeds). The CLV step runs between the
# parts; building everything, it fits on every run (clv_refit_days 0), as a full refresh does: a fit that serves
# on differs from a fresh one by design (test_a_clv_fit_serves_until_it_is_clv_refit_days_old proves that rule).
EVERYTHING = " ".join(f"+{name}" for name in [*DAILY, *READERS])
REFIT_EVERY_RUN = ("--vars", '{"clv_refit_days": 0}')


def build(day, *extra: str, select: str = EVERYTHING) -> None:
    dbt = DbtCli(project_dir=dbt_project)
    # The day as Dagster passes it, and one target per home: the builds after the first skip dbt's parse.
    target = Path(os.environ["HOURGLASS_HOME"]) / "dbt-target"
    if select == EVERYTHING and "--vars" not in extra:
        extra = (*extra, *REFIT_EVERY_RUN)
    with settings.child_environment(HOURGLASS_AS_OF_DATE=day.isoformat()):
        model_steps.dbt_build(
            lambda args: dbt.cli(args, raise_on_error=True, target_path=target).wait(), select, *extra, day=day
        )


def rows(wh: Warehouse, name: str) -> pd.DataFrame:
    """Every row of a model, in one order; lists as text, which frames compare."""
    types = wh.df(f"describe {name}").set_index("column_name")["column_type"]
    columns = [f'cast("{c}" as varchar) as "{c}"' if t.endswith("]") else f'"{c}"' for c, t in types.items()]
    return wh.df(f"select {', '.join(columns)} from {name} order by all").reset_index(drop=True)


def snapshot(wh: Warehouse, names=(*DAILY, *READERS)) -> dict[str, pd.DataFrame]:
    return {name: rows(wh, name) for name in names}


def test_the_daily_models_are_the_partitioned_event_models(dbt_manifest):
    from hourglass.assets.models import event_models

    assert {key.path[-1] for key in event_models.keys} == {*DAILY, *SEEN_ONCE}


def test_nightly_increments_equal_a_full_refresh(pipeline_copy):
    home, _ = pipeline_copy
    wh = Warehouse(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        build(AS_OF - timedelta(days=9), "--full-refresh")  # the history as it stood nine days ago
        before = snapshot(wh)
        before_last_day = {
            name: wh.one(f"select cast(max({day}) as date) from {name}")[0] for name, day in DAILY.items()
        }
        for day in (AS_OF - timedelta(days=6), AS_OF - timedelta(days=3), AS_OF):  # three nightly runs
            build(day)
        incremental = snapshot(wh)
        build(AS_OF, "--full-refresh")
        full = snapshot(wh)

    for name in DAILY:
        assert len(incremental[name]) > len(before[name]) or name.endswith("_monthly"), f"{name}: nothing added"
        assert before_last_day[name] <= AS_OF - timedelta(days=9), name
    for name in [*DAILY, *READERS]:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    # The nights gave the identity models work: new records, some of them joining customers already known.
    old, new = (f.set_index("record_id")["customer_key"] for f in (before["identity_map"], full["identity_map"]))
    joined = new.drop(old.index).isin(old.to_numpy())
    moved = (new.reindex(old.index) != old).sum()
    print(
        f"identity over the nights: {len(new) - len(old)} new records, {joined.sum()} joining known customers, "
        f"{moved} records moved to another customer"
    )
    assert joined.any() and not joined.all()


def test_backfills_in_any_order_equal_a_full_refresh(pipeline_copy):
    """Dagster backfills partition ranges in whatever order an engineer picks: the last days first, then the gap
    before them. The event models, the sets of identifiers seen once and everything read from them end where a
    full refresh ends."""
    from hourglass.assets.models import EVENT_MODELS

    home, _ = pipeline_copy
    wh = Warehouse(home)
    dbt = DbtCli(project_dir=dbt_project)

    def backfill(start, end) -> None:  # the event models for [start, end), as a backfill of event_models runs
        span = f'{{"incremental_start": "{start}", "incremental_end": "{end}"}}'
        with settings.child_environment(HOURGLASS_AS_OF_DATE=(end - timedelta(days=1)).isoformat()):
            target = home / "dbt-target"
            dbt.cli(["build", "--select", EVENT_MODELS, "--vars", span], raise_on_error=True, target_path=target).wait()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        build(AS_OF - timedelta(days=30), "--full-refresh")
        before = snapshot(wh, SEEN_ONCE)
        backfill(AS_OF - timedelta(days=10), AS_OF + timedelta(days=1))
        backfill(AS_OF - timedelta(days=29), AS_OF - timedelta(days=10))
        build(AS_OF)  # the next night builds everything per customer for its day
        backfilled = snapshot(wh)
        build(AS_OF, "--full-refresh")
        full = snapshot(wh)

    for name in SEEN_ONCE:
        assert len(full[name]) > len(before[name]), f"{name}: the month added nothing to compare"
    for name in [*DAILY, *READERS]:
        pd.testing.assert_frame_equal(backfilled[name], full[name], check_dtype=False, obj=name)


def test_identity_follows_merges_splits_and_guard_changes(pipeline_copy):
    """A nightly run where people merge, split and an address becomes shared ends where a full refresh ends.

    Into the lake go: a lead carrying customer A's e-mail and customer B's phone (A and B become one), three
    leads with customer C's e-mail (now shared by four people: blocked, so C's records linked by it split
    off), a new CRM version of customer D with another e-mail (D's old address no longer links), and one of
    customer E with another city (nothing identity looks at).
    """
    home, _ = pipeline_copy
    wh = Warehouse(home)
    lake = home / "lake" / "raw"
    added = [lake / "leads" / "load_date=2099-01-01", lake / "crm_customers" / "load_date=2099-01-01"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        build(AS_OF, "--full-refresh")
        # Unblocked CRM e-mails that also link another record, and phones, each on a customer of its own.
        picks = wh.df(
            """
            select l.identifier_type, l.identifier_value, l.source_key, m.customer_key, l.records_sharing_identifier
            from int_identity_guarded_links l join identity_map m using (record_id)
            where l.source = 'crm_customers' and l.identifier_type in ('email', 'phone') and not l.is_blocked
              and l.people_sharing_identifier = 1
            order by l.identifier_value
            """
        )
        emails = picks[(picks.identifier_type == "email") & (picks.records_sharing_identifier > 1)]
        emails = emails.drop_duplicates("customer_key")
        a, c, d = emails.iloc[0], emails.iloc[1], emails.iloc[2]
        b = picks[(picks.identifier_type == "phone") & ~picks.customer_key.isin(emails.customer_key[:3])].iloc[0]
        e = picks[~picks.customer_key.isin([a.customer_key, b.customer_key, c.customer_key, d.customer_key])].iloc[-1]
        before = snapshot(wh)["identity_map"].set_index("record_id")["customer_key"]
        try:
            for path in added:
                path.mkdir()
            with duckdb.connect() as con:
                template = f"read_parquet('{lake}/leads/load_date=*/*.parquet')"
                con.execute(
                    f"""copy (
                        select * replace (
                            'LTEST' || n as lead_id, emails[n] as email, phones[n] as phone,
                            '{added[0]}/leads.parquet' as _source_file, date '2099-01-01' as load_date)
                        from (select * from {template} limit 1),
                             (select unnest(range(1, 5)) as n,
                                     [?, ?, ?, ?] as emails, [?, null, null, null] as phones)
                    ) to '{added[0]}/leads.parquet'""",
                    [a.identifier_value, c.identifier_value, c.identifier_value, c.identifier_value,
                     b.identifier_value],
                )  # fmt: skip
                con.execute(
                    f"""copy (
                        select * replace (
                            if(customer_id = $d, 'moved-' || customer_id || '@example.org', email) as email,
                            if(customer_id = $e, 'Testdorp', city) as city,
                            updated_at + interval 1 day as updated_at,
                            '{added[1]}/crm.parquet' as _source_file, date '2099-01-01' as load_date)
                        from read_parquet('{lake}/crm_customers/load_date=*/*.parquet')
                        where customer_id in ($d, $e)
                        qualify row_number() over (partition by customer_id order by updated_at desc) = 1
                    ) to '{added[1]}/crm.parquet'""",
                    {"d": d.source_key, "e": e.source_key},
                )
            build(AS_OF)
            incremental = snapshot(wh)
            build(AS_OF, "--full-refresh")
            full = snapshot(wh)
        finally:
            for path in added:
                shutil.rmtree(path, ignore_errors=True)
            build(AS_OF, "--full-refresh")

    for name in READERS:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    after = full["identity_map"].set_index("record_id")["customer_key"]
    # the bridging lead merged A and B
    assert after[f"crm:{a.source_key}"] == after[f"crm:{b.source_key}"] == after["lead:LTEST1"]
    guarded = full["int_identity_guarded_links"]
    shared = guarded[guarded.identifier_value == c.identifier_value]
    assert shared.is_blocked.all() and len(shared) >= 5  # C's address: C, three leads and what it linked
    old_d = guarded[(guarded.identifier_value == d.identifier_value) & (guarded.record_id != f"crm:{d.source_key}")]
    assert (after[old_d.record_id] != after[f"crm:{d.source_key}"]).any()  # D's old address: split off
    moved = (after.reindex(before.index) != before).sum()
    assert moved > 0
    # E's new CRM version changed only the city: no identifier, so identity left E alone; the profile follows
    profile = full["int_customer_profile"].set_index("crm_customer_id")
    assert profile.loc[e.source_key, "city"] == "Testdorp"
    assert after[f"crm:{e.source_key}"] == before[f"crm:{e.source_key}"]


def test_a_late_event_reaches_the_customer_facts(pipeline_copy):
    """A click that lands late, for a subscriber and day already built, reaches that day's row in the nightly run
    and the customer's e-mail engagement with it."""
    home, _ = pipeline_copy
    wh = Warehouse(home)
    lake = home / "lake" / "raw" / "esp_events"
    added = lake / "load_date=2099-01-02"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        # the newest day with e-mail events, and the runs for the day after: it is among the days they rebuild
        day = wh.one("select max(event_date) from int_esp_events_daily where event_date <= ?", [AS_OF])[0]
        as_of = day + timedelta(days=1)
        build(as_of, "--full-refresh")
        (subscriber,) = wh.one(
            f"select subscriber_id from int_esp_events_daily where event_date = '{day}' order by subscriber_id limit 1"
        )
        customer = wh.one(f"select customer_key from identity_map where record_id = 'esp:{subscriber}'")[0]
        clicks_before = wh.one(f"select email_clicks from int_customer_email where customer_key = '{customer}'")[0]
        try:
            added.mkdir()
            with duckdb.connect() as con:
                con.execute(
                    f"""copy (
                        select * replace (
                            'LATE-' || event_id as event_id, 'click' as event_type,
                            '{added}/late.parquet' as _source_file, date '2099-01-02' as load_date)
                        from read_parquet('{lake}/load_date=*/*.parquet')
                        where subscriber_id = ? and cast(event_at as date) = ?
                        limit 1
                    ) to '{added}/late.parquet'""",
                    [subscriber, day],
                )
            build(as_of)
            incremental = snapshot(wh)
            clicks_after = wh.one(f"select email_clicks from int_customer_email where customer_key = '{customer}'")[0]
            build(as_of, "--full-refresh")
            full = snapshot(wh)
        finally:
            shutil.rmtree(added, ignore_errors=True)
            build(AS_OF, "--full-refresh")

    for name in [*DAILY, *READERS]:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    assert clicks_after == (clicks_before or 0) + 1


def test_a_clv_fit_serves_until_it_is_clv_refit_days_old(pipeline_copy):
    """The nightly CLV predicts with the newest fit; a new fit comes once it is clv_refit_days old (7), when it was
    made for a later day, or on a full refresh."""
    home, _ = pipeline_copy
    wh = Warehouse(home)
    models = "int_customer_clv_fit int_customer_clv"

    def fits() -> list[dict]:
        sql = "select list({'day': fitted_for, 'r': r, 'q': q} order by fitted_at) from int_customer_clv_fit"
        return wh.one(sql)[0]

    def days() -> list:
        return [fit["day"] for fit in fits()]

    def used() -> list:
        return wh.one("select list(distinct fitted_for) from int_customer_clv")[0]

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        first = fits()
        assert days() == [AS_OF] and first[0]["r"] > 0
        build(AS_OF + timedelta(days=6), select=models)  # six days on: the fit stands
        assert fits() == first and used() == [AS_OF]
        build(AS_OF + timedelta(days=7), select=models)  # a week on: fitted again, the history kept
        assert days() == [AS_OF, AS_OF + timedelta(days=7)]
        assert used() == [AS_OF + timedelta(days=7)]
        build(AS_OF + timedelta(days=1), select=models)  # a day before the newest fit: that fit saw later data
        assert days()[-1] == AS_OF + timedelta(days=1)
        build(AS_OF + timedelta(days=2), "--vars", '{"clv_refit_days": 1}', select=models)  # every night
        assert days()[-1] == AS_OF + timedelta(days=2)
        build(AS_OF, "--full-refresh", select=models)
        assert days() == [AS_OF] and used() == [AS_OF]
