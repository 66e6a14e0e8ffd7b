"""Each audience holds exactly the customers its rule names, recomputed from the lake (tests/customer_oracle.py):
lifecycle, purchases, subscriptions, activity windows and consent are worked out again here; only identity,
contact details and the predicted CLV are taken from the warehouse (each tested against its truth elsewhere)."""

from datetime import timedelta

import consent_oracle
import pandas as pd
import pytest
from conftest import AS_OF
from customer_oracle import ACTIVE_STAGES, VARS, Customers, declined_sharply, lake, reachable
from test_middle import Warehouse


@pytest.fixture(scope="module")
def warehouse(pipeline):
    home, _ = pipeline
    return home, Warehouse(home)


@pytest.fixture(scope="module")
def customers(warehouse) -> Customers:
    home, wh = warehouse
    return Customers(home, AS_OF, wh.df("select record_id, customer_key from identity_map"))


@pytest.fixture(scope="module")
def people(warehouse) -> pd.DataFrame:
    """Every customer with their contact details and predicted CLV: the inputs the oracle takes from dbt."""
    _, wh = warehouse
    return wh.df(
        "select customer_key, crm_customer_id, email, phone, predicted_clv, probability_alive from customer_360"
    ).set_index("customer_key", drop=False)


@pytest.fixture(scope="module")
def consent(warehouse, people) -> dict[str, dict[str, str]]:
    home, _ = warehouse
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        return consent_oracle.consent_states(
            people[["customer_key", "crm_customer_id", "email"]]
            .rename(columns={"crm_customer_id": "customer_id"})
            .astype(object)
            .where(people[["customer_key", "crm_customer_id", "email"]].notna().to_numpy(), None)
            .to_dict("records")
        )


def members(wh: Warehouse, audience: str) -> set[str]:
    return set(wh.df(f"select customer_key from {audience}")["customer_key"])


def expected_abandoners(home, customers: Customers, reach: set[str]) -> dict[str, str]:
    """customer_key -> workshop slug, by the rule in plain pandas."""
    window = VARS["abandoner_window_days"]
    web = lake(home, "ga4_web")
    web = web[web["event_name"].isin(["workshop_signup_start", "workshop_signup_complete"])].copy()
    web["slug"] = web["page_path"].str.split("/").str[2]
    web["date"] = pd.to_datetime(web["date"]).dt.date
    starts = web[(web["event_name"] == "workshop_signup_start") & (web["date"] > AS_OF - timedelta(days=window))]
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

    keys = customers.identity
    abandoned = abandoned.assign(record_id="ga4:" + abandoned["visitor_id"]).merge(keys, on="record_id")
    orders = lake(home, "erp_orders")
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
    abandoned = abandoned[abandoned["customer_key"].isin(reach)]
    latest = abandoned.sort_values(["customer_key", "date", "slug"], ascending=[True, False, True])
    return dict(latest.drop_duplicates("customer_key")[["customer_key", "slug"]].itertuples(index=False))


def test_workshop_signup_abandoners_follow_the_rule(warehouse, customers, people, consent):
    home, wh = warehouse
    audience = wh.df("select customer_key, workshop_slug, started_on, email from workshop_signup_abandoners")
    assert len(audience) > 0
    reach = reachable(people, consent, ("email", "sms"))  # the campaign writes by e-mail, else by SMS
    actual = dict(zip(audience["customer_key"], audience["workshop_slug"], strict=True))
    assert actual == expected_abandoners(home, customers, reach)
    # The hand-made journeys: only the one who neither finished nor registered, within the window.
    journeys = set(audience.loc[audience["email"].str.endswith("@example.nl"), "workshop_slug"])
    assert journeys == {"edge-schilderen"}


def test_welcome_new_members_are_crm_customers_who_joined_in_the_window(warehouse, customers, people, consent):
    _, wh = warehouse
    joined = customers.crm_joined()
    window = VARS["welcome_window_days"]
    recent = set(joined[(joined > AS_OF - timedelta(days=window)) & (joined <= AS_OF)].index)
    expected = recent & reachable(people, consent, ("email",))
    assert members(wh, "welcome_new_members") == expected and expected


def test_winback_lapsed_is_the_top_share_of_lapsed_customers_by_clv(warehouse, customers, people, consent):
    _, wh = warehouse
    stages = customers.lifecycle_stages()
    clv = people["predicted_clv"]
    lapsed = clv[clv.index.isin(stages[stages == "lapsed"].index) & (clv > 0)]
    threshold = lapsed.quantile(1 - VARS["winback_top_share"])  # linear, as quantile_cont
    expected = set(lapsed[lapsed >= threshold].index) & reachable(people, consent, ("email",))
    assert members(wh, "winback_lapsed") == expected and expected


def test_churn_risk_valuable_are_subscribers_likely_to_leave(warehouse, customers, people, consent):
    _, wh = warehouse
    subs = customers.active_subscriptions()
    subscribers = set(subs[subs["magazine"] | subs["season_ticket"]].index)
    p = people
    at_risk = p[(p["probability_alive"] < VARS["churn_risk_max_probability_alive"])
                & (p["predicted_clv"] >= VARS["churn_risk_min_predicted_clv"])]  # fmt: skip
    expected = subscribers & set(at_risk.index) & reachable(people, consent, ("email",))
    assert members(wh, "churn_risk_valuable") == expected and expected


def test_cross_sell_reaches_active_workshop_buyers_without_a_ticket(warehouse, customers, people, consent):
    _, wh = warehouse
    stages = customers.lifecycle_stages()
    bought = customers.orders()["categories_bought"]
    workshop_only = {c for c, cats in bought.items() if "workshop" in cats and "ticket" not in cats}
    active = set(stages[stages.isin(ACTIVE_STAGES)].index)
    expected = workshop_only & active & reachable(people, consent, ("email", "sms"))
    assert members(wh, "cross_sell_workshop_to_theatre") == expected and expected


def test_reengage_declining_picks_sharp_drops_only(warehouse, customers, people, consent):
    _, wh = warehouse
    engagement = customers.engagement()
    declined = {c for c, row in engagement.iterrows() if declined_sharply(int(row["recent"]), int(row["prior"]))}
    expected = declined & reachable(people, consent, ("email",))
    assert members(wh, "reengage_declining") == expected and expected


def test_lifecycle_stages_follow_the_rule_for_every_customer(warehouse, customers, people):
    _, wh = warehouse
    stored = wh.df("select customer_key, lifecycle_stage from customer_360").set_index("customer_key")
    expected = customers.lifecycle_stages().reindex(stored.index).fillna("prospect")
    wrong = stored["lifecycle_stage"] != expected
    assert not wrong.any(), stored[wrong].assign(expected=expected[wrong]).head()
    assert set(expected) == {"prospect", "new", "active", "loyal", "at_risk", "lapsed", "won_back"}


def test_every_audience_reaches_only_consenting_addresses(warehouse, people, consent):
    _, wh = warehouse
    by_email, by_email_or_sms = reachable(people, consent, ("email",)), reachable(people, consent, ("email", "sms"))
    for audience, reach in {
        "welcome_new_members": by_email,
        "winback_lapsed": by_email,
        "churn_risk_valuable": by_email,
        "reengage_declining": by_email,
        "workshop_signup_abandoners": by_email_or_sms,
        "cross_sell_workshop_to_theatre": by_email_or_sms,
    }.items():
        found = members(wh, audience)
        assert found and found <= reach, audience


def test_segments_follow_their_rules_for_every_customer(warehouse, customers):
    _, wh = warehouse
    columns = ["age_band", "is_young_person", "is_double_income_no_kids", "value_tier", "is_engaged_recently"]
    stored = wh.df(f"select customer_key, {', '.join(columns)} from customer_360").set_index("customer_key")
    expected = customers.segments(stored.index)
    for column in columns:
        wrong = stored[column] != expected[column]
        assert not wrong.any(), (column, stored.loc[wrong, column].to_frame().assign(expected=expected[column]).head())
        assert expected[column].nunique() > 1, column
