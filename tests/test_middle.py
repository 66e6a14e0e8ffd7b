"""The dbt middle on generated data: identity resolution against the generator's truth, lifecycle, segments,
audiences. Every expectation is recomputed from the truth files or the lake, not read back from dbt."""

import json

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import AS_OF

PREFIX = {
    "crm_customers": "crm:",
    "leads": "lead:",
    "esp_events": "esp:",
    "ga4_web": "ga4:",
    "erp_orders": "order:",
    "subscriptions": "subscription:",
    "service_tickets": "ticket:",
    "nps_responses": "nps:",
    "social_mentions": "social:",
}


class Warehouse:
    """Read-only queries that never hold the file open: dbt runs in another process and needs the write lock."""

    def __init__(self, home):
        self.home = home

    def df(self, sql: str, params=None) -> pd.DataFrame:
        with duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).df()

    def one(self, sql: str, params=None) -> tuple:
        with duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchone()


@pytest.fixture(scope="module")
def warehouse(pipeline):
    home, _ = pipeline
    return home, Warehouse(home)


@pytest.fixture(scope="module")
def resolved(warehouse):
    """Each source record with its true person (generator) and the customer key dbt gave it."""
    home, con = warehouse
    truth = pd.read_parquet(home / "landing" / "_truth" / "persons.parquet")
    truth["record_id"] = truth["source"].map(PREFIX) + truth["record_id"].astype(str)
    keys = con.df("select record_id, customer_key from identity_map")
    return truth.merge(keys, on="record_id", how="inner")


def test_every_loaded_record_has_exactly_one_customer_key(warehouse):
    _, con = warehouse
    records, distinct = con.one("select count(*), count(distinct record_id) from identity_map")
    assert records == distinct > 0


def _components_within_person(records: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Per true person: how many groups their records form when joined only by identifiers the guard allows.

    This is what a perfect resolver can do with the data: a web visitor who never clicked a tracked link, or a
    record whose only identifier is a shared office address, cannot be tied to the person by anyone.
    """
    usable = links[~links["is_blocked"] & links["identifier_value"].notna()]
    merged = records.merge(usable[["record_id", "identifier_type", "identifier_value"]], on="record_id")
    parent = {r: r for r in records["record_id"]}

    def find(r):
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for _, group in merged.groupby(["person_id", "identifier_type", "identifier_value"]):
        ids = group["record_id"].tolist()
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    roots = records.assign(root=records["record_id"].map(find))
    return roots.groupby("person_id")["root"].nunique()


def test_planted_cross_system_duplicates_are_merged(warehouse, resolved):
    _, con = warehouse
    people = resolved[resolved["person_id"].notna()]
    links = con.df("select record_id, identifier_type, identifier_value, is_blocked from int_identity_guarded_links")
    expected = _components_within_person(people[["record_id", "person_id"]], links)
    actual = people.groupby("person_id")["customer_key"].nunique()
    assert (actual == expected).all(), actual[actual != expected].head()

    # The planted links do join systems: many people known to three or more systems end up as one customer.
    # (The rest have a record nobody could tie to them, e.g. a web visit without a tracked click; the
    # assertion above proves those are kept apart only when no usable identifier joins them.)
    systems = people.groupby("person_id")["source"].nunique()
    one_customer = (actual == 1) & (systems >= 3)
    assert one_customer.sum() > 0.4 * (systems >= 3).sum()


def test_shared_addresses_do_not_fuse_people(warehouse, resolved):
    home, con = warehouse
    planted = json.loads((home / "landing" / "_truth" / "planted.json").read_text())
    people = resolved[resolved["person_id"].notna()]
    persons_per_key = people.groupby("customer_key")["person_id"].nunique()
    assert persons_per_key.max() == 1, persons_per_key[persons_per_key > 1].head()
    for shared in planted["identity"]["shared_emails"]:
        evidence = con.one(
            "select bool_and(is_blocked), max(records) from identity_merge_evidence "
            "where identifier_type = 'email' and identifier_value = ?",
            [shared["email"].strip().lower()],
        )
        assert evidence[0] is True, f"{shared['email']} should be blocked as shared"


def test_customer_keys_are_stable_between_runs(pipeline_copy):
    home, _ = pipeline_copy
    con = Warehouse(home)
    query = "select record_id, customer_key from identity_map order by record_id"
    first = con.df(query)
    from hourglass.assets.models import dbt_models, identified_models, models_before_steps
    from hourglass.assets.steps import step_assets
    from hourglass.definitions import defs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        again = defs.resolve_job_def("nightly").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[
                key
                for assets in (models_before_steps, *step_assets, identified_models, dbt_models)
                for key in assets.keys
            ],
        )
    assert again.success
    pd.testing.assert_frame_equal(first, con.df(query))


def test_kpis_agree_with_the_rows_they_summarise(warehouse):
    home, wh = warehouse
    # Every buyer is new in exactly one month.
    new, buyers = wh.one("select (select sum(new_customers) from kpi_lifecycle_monthly), "
                         "(select buyers from kpi_customers)")  # fmt: skip
    assert new == buyers > 0
    # NPS from the lake: % promoters minus % detractors, over all answers.
    glob = str(home / "lake" / "raw" / "nps_responses" / "load_date=*" / "*.parquet")
    scores = duckdb.sql(f"select score from read_parquet('{glob}')").df()["score"]
    expected = 100 * ((scores >= 9).mean() - (scores <= 6).mean())
    (overall,) = wh.one("select sum(nps * responses) / sum(responses) from kpi_satisfaction_monthly")
    assert overall == pytest.approx(expected)
    (share,) = wh.one("select email_opt_in_share from kpi_customers")
    assert share == pytest.approx(wh.one("select avg(consent_email_marketing::int) from customer_360")[0])


def test_the_dbt_unit_tests_pass(warehouse):
    """Runs leave dbt's unit tests out (they check the SQL, not the data): here they run, on the built warehouse."""
    from hourglass.project import DbtCli, dbt_project

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(warehouse[0]))
        invocation = DbtCli(project_dir=dbt_project).cli(["test", "--select", "test_type:unit"])
        invocation.wait()
    # the run's on-run-start hook (macros/cross_engine.sql: lake_views) is reported too
    results = [
        r for r in invocation.get_artifact("run_results.json")["results"] if not r["unique_id"].startswith("operation.")
    ]
    assert len(results) >= 3 and all(r["status"] == "pass" for r in results), results
    assert all(r["unique_id"].startswith("unit_test.") for r in results)
