"""Each audience holds exactly the customers its rule names, recomputed here from the lake."""

from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF
from test_middle import Warehouse

ABANDONER_WINDOW_DAYS = 7  # dbt var abandoner_window_days


@pytest.fixture(scope="module")
def warehouse(pipeline):
    home, _ = pipeline
    return home, Warehouse(home)


def lake_df(home, source: str) -> pd.DataFrame:
    glob = str(home / "lake" / "raw" / source / "load_date=*" / "*.parquet")
    return duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning = true, union_by_name = true)").df()


def expected_abandoners(home, wh: Warehouse) -> dict[str, str]:
    """customer_key -> workshop slug, by the rule in plain pandas."""
    web = lake_df(home, "ga4_web")
    web = web[web["event_name"].isin(["workshop_signup_start", "workshop_signup_complete"])].copy()
    web["slug"] = web["page_path"].str.split("/").str[2]
    web["date"] = pd.to_datetime(web["date"]).dt.date
    starts = web[(web["event_name"] == "workshop_signup_start") & (web["date"] > AS_OF - timedelta(days=7))]
    starts = starts[starts["date"] <= AS_OF].groupby(["visitor_id", "slug"], as_index=False)["date"].max()
    done = web[web["event_name"] == "workshop_signup_complete"]
    starts = starts.merge(
        done[["visitor_id", "slug", "date"]], on=["visitor_id", "slug"], how="left", suffixes=("", "_done")
    )
    finished = starts["date_done"].notna() & (starts["date_done"] >= starts["date"])
    finished_pairs = set(starts.loc[finished, ["visitor_id", "slug"]].itertuples(index=False))
    abandoned = starts[
        [(v, s) not in finished_pairs for v, s in zip(starts["visitor_id"], starts["slug"], strict=True)]
    ]
    abandoned = abandoned.drop_duplicates(["visitor_id", "slug"])

    keys = wh.df("select record_id, customer_key from identity_map")
    abandoned = abandoned.assign(record_id="ga4:" + abandoned["visitor_id"]).merge(keys, on="record_id")
    orders = lake_df(home, "erp_orders")
    orders = orders[(orders["category"] == "workshop") & (orders["status"] == "completed")]
    orders = orders.assign(
        record_id="order:" + orders["order_id"],
        slug=orders["product_id"].str[3:],
        order_date=pd.to_datetime(orders["order_at"]).dt.date,
    ).merge(keys, on="record_id")
    since = abandoned.merge(orders[["customer_key", "slug", "order_date"]], on=["customer_key", "slug"])
    since = since[since["order_date"] >= since["date"]]
    registered = set(zip(since["customer_key"], since["slug"], strict=True))
    pairs = zip(abandoned["customer_key"], abandoned["slug"], strict=True)
    abandoned = abandoned[[pair not in registered for pair in pairs]]

    people = wh.df(
        "select customer_key, email, phone, consent_email_marketing, consent_sms_marketing from customer_360"
    )
    reachable = people.loc[_reachable_by_email_or_sms(people), "customer_key"]  # the campaign has e-mail and SMS
    abandoned = abandoned[abandoned["customer_key"].isin(reachable)]
    latest = abandoned.sort_values(["customer_key", "date", "slug"], ascending=[True, False, True])
    return dict(latest.drop_duplicates("customer_key")[["customer_key", "slug"]].itertuples(index=False))


def test_workshop_signup_abandoners_follow_the_rule(warehouse):
    home, wh = warehouse
    audience = wh.df("select customer_key, workshop_slug, started_on, email from workshop_signup_abandoners")
    assert len(audience) > 0
    assert dict(zip(audience["customer_key"], audience["workshop_slug"], strict=True)) == expected_abandoners(home, wh)
    assert (pd.to_datetime(audience["started_on"]).dt.date > AS_OF - timedelta(days=ABANDONER_WINDOW_DAYS)).all()
    # The hand-made journeys: only the one who neither finished nor registered, within the window.
    journeys = set(audience.loc[audience["email"].str.endswith("@example.nl"), "workshop_slug"])
    assert journeys == {"edge-schilderen"}


def test_every_audience_is_non_empty_and_reaches_only_consenting_addresses(warehouse):
    _, wh = warehouse
    by_email = "c.consent_email_marketing and c.email is not null"
    by_sms = "c.consent_sms_marketing and c.phone is not null"
    for audience, reachable in (
        ("welcome_new_members", by_email),
        ("workshop_signup_abandoners", f"({by_email}) or ({by_sms})"),  # e-mail, else SMS
    ):
        size, without_consent = wh.one(
            f"select count(*), count(*) filter (where not coalesce({reachable}, false)) "
            f"from {audience} a join customer_360 c using (customer_key)"
        )
        assert size > 0 and without_consent == 0, audience


def _reachable(c: pd.DataFrame) -> pd.Series:
    return c["consent_email_marketing"] & c["email"].notna()


def _reachable_by_email_or_sms(c: pd.DataFrame) -> pd.Series:
    return _reachable(c) | (c["consent_sms_marketing"] & c["phone"].notna())


def _lapsed(c: pd.DataFrame) -> pd.Series:
    return (c["lifecycle_stage"] == "lapsed") & (c["predicted_clv"] > 0)


RULES = {
    "winback_lapsed": lambda c: _lapsed(c) & (c["predicted_clv"] >= c.loc[_lapsed(c), "predicted_clv"].quantile(0.75)),
    "churn_risk_valuable": lambda c: (
        (c["has_active_magazine"] | c["has_active_season_ticket"])
        & (c["probability_alive"] < 0.5)
        & (c["predicted_clv"] >= 50)
    ),
    "cross_sell_workshop_to_theatre": lambda c: (
        c["categories_bought"].map(
            lambda cats: isinstance(cats, list | tuple | np.ndarray) and "workshop" in cats and "ticket" not in cats
        )
        & c["lifecycle_stage"].isin(["new", "active", "loyal", "won_back"])
    ),
}


EMAIL_OR_SMS = {"cross_sell_workshop_to_theatre"}  # the audiences that reach people by e-mail or SMS


@pytest.mark.parametrize("audience", sorted(RULES))
def test_customer_360_audiences_hold_exactly_their_rule(warehouse, audience):
    _, wh = warehouse
    customers = wh.df("select * from customer_360")
    reachable = (_reachable_by_email_or_sms if audience in EMAIL_OR_SMS else _reachable)(customers)
    expected = set(customers.loc[RULES[audience](customers).fillna(False) & reachable, "customer_key"])
    actual = set(wh.df(f"select customer_key from {audience}")["customer_key"])
    assert actual == expected and actual, audience


def test_reengage_declining_picks_sharp_drops_only(warehouse):
    _, wh = warehouse
    rows = wh.df("select * from reengage_declining")
    assert len(rows) > 0
    assert (rows["interactions_last_90_days"] < 0.25 * rows["usual_interactions_per_90_days"]).all()
