"""Who belongs to each audience and segment, worked out again from the lake in pandas, as an oracle for tests.

It reads the Parquet files the loader wrote under HOURGLASS_HOME/lake and applies the rules as docs/model.md and
the models' yml state them, without dbt's models or macros. Three things come in from outside, each tested on
its own elsewhere: which records are one person (identity_map, against the generator's truth in test_middle),
the person's contact details (customer_360's crm_customer_id, email and phone: the addresses a campaign writes
to) and the predicted CLV (against CDNOW in test_cdnow). Consent comes from consent_oracle. Thresholds are
read from the dbt vars in dbt_project.yml, the one place analysts set them.
"""

from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from hourglass import settings

VARS = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
ACTIVE_STAGES = {"new", "active", "loyal", "won_back"}


def lake(home: Path, source: str) -> pd.DataFrame:
    """Every row of a source in the lake, over all load dates."""
    files = str(home / "lake" / "raw" / source / "load_date=*" / "*.parquet")
    return duckdb.sql(f"select * from read_parquet('{files}', hive_partitioning = true, union_by_name = true)").df()


def _newest(rows: pd.DataFrame, key: list[str], order: list[str]) -> pd.DataFrame:
    """The newest version of each key: the last by `order` (ties: the later load, then the later file)."""
    by = [*order, "load_date", "_source_file"]
    return rows.sort_values(by).drop_duplicates(key, keep="last")


def _owner(rows: pd.DataFrame, identity: pd.DataFrame, prefix: str, column: str) -> pd.DataFrame:
    """rows with the customer_key of their record `prefix:<column>`."""
    keys = identity.set_index("record_id")["customer_key"]
    return rows.assign(customer_key=(prefix + rows[column].astype(str)).map(keys)).dropna(subset=["customer_key"])


def _day(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column).dt.date


class Customers:
    """Per customer (identity_map's keys), the facts the audience and segment rules read, as of `as_of`."""

    def __init__(self, home: Path, as_of: date, identity: pd.DataFrame):
        self.home, self.as_of, self.identity = home, as_of, identity

    def purchases(self) -> pd.DataFrame:
        """One row per purchase (an order with a completed or refunded line): customer, day, amount, categories."""
        lines = lake(self.home, "erp_orders")
        lines = lines[_day(lines["updated_at"]) <= self.as_of]
        lines = _newest(lines, ["order_id", "line_no"], ["updated_at"])
        lines = lines.assign(
            status=lines["status"].str.strip().str.lower(),
            category=lines["category"].str.strip().str.lower(),
            day=_day(lines["order_at"]),
        )
        counted = lines[lines["status"].isin(["completed", "refunded"])]
        orders = counted.groupby("order_id").agg(
            day=("day", "min"),
            amount=("line_amount", lambda a: float(sum(a))),
            categories=("category", lambda c: set(c)),
        )
        return _owner(orders.reset_index(), self.identity, "order:", "order_id")

    def orders(self) -> pd.DataFrame:
        """Per buyer: orders, first and last purchase day, orders in the last 365 days, the pause before the last
        purchase day, money spent and the categories bought."""
        bought = self.purchases()
        rows = []
        for customer, mine in bought.groupby("customer_key"):
            days = sorted(set(mine["day"]))
            rows.append({
                "customer_key": customer,
                "orders": len(mine),
                "first_order_date": days[0],
                "last_order_date": days[-1],
                "orders_last_365_days": int((mine["day"] > self.as_of - timedelta(days=365)).sum()),
                "gap_before_last_order_days": (days[-1] - days[-2]).days if len(days) > 1 else None,
                "monetary_value": mine["amount"].sum(),
                "categories_bought": set().union(*mine["categories"]),
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("customer_key")

    def lifecycle_stages(self) -> pd.Series:
        """customer_key -> lifecycle stage, for every buyer (whoever is missing is a prospect)."""
        stages = {}
        for customer, o in self.orders().iterrows():
            recency = (self.as_of - o["last_order_date"]).days
            tenure = (self.as_of - o["first_order_date"]).days
            gap = o["gap_before_last_order_days"]
            if recency <= VARS["lifecycle_new_days"] and gap is not None and gap >= VARS["lifecycle_winback_gap_days"]:
                stages[customer] = "won_back"
            elif tenure <= VARS["lifecycle_new_days"]:
                stages[customer] = "new"
            elif recency <= VARS["lifecycle_active_days"]:
                loyal = o["orders_last_365_days"] >= VARS["lifecycle_loyal_min_orders"]
                stages[customer] = "loyal" if loyal else "active"
            elif recency <= VARS["lifecycle_lapsed_days"]:
                stages[customer] = "at_risk"
            else:
                stages[customer] = "lapsed"
        return pd.Series(stages, name="lifecycle_stage")

    def active_subscriptions(self) -> pd.DataFrame:
        """Per subscriber: whether a magazine or a season ticket is active (its newest version's status)."""
        subs = _newest(lake(self.home, "subscriptions"), ["subscription_id"], ["updated_at"])
        subs = _owner(subs, self.identity, "subscription:", "subscription_id")
        active = subs["status"].str.strip().str.lower() == "active"
        magazine = subs["product"].str.strip().str.lower().str.startswith("magazine")
        subs = subs.assign(magazine=active & magazine, season_ticket=active & ~magazine)
        return subs.groupby("customer_key")[["magazine", "season_ticket"]].any()

    def _windows(self, rows: pd.DataFrame, day: pd.Series, count: pd.Series) -> pd.DataFrame:
        """Per customer: the sum of `count` in the last 90 days and in the 275 days before them."""
        recent = day > self.as_of - timedelta(days=90)
        prior = ~recent & (day > self.as_of - timedelta(days=365))
        rows = rows.assign(recent=count.where(recent, 0), prior=count.where(prior, 0))
        return rows.groupby("customer_key")[["recent", "prior"]].sum()

    def engagement(self) -> pd.DataFrame:
        """Per customer: e-mail clicks plus web sessions in the last 90 days (recent) and the 275 before (prior)."""
        events = lake(self.home, "esp_events")
        events = events[_day(events["event_at"]) <= self.as_of]
        events = events.sort_values(["load_date", "_source_file"]).drop_duplicates("event_id", keep="last")
        events = _owner(events, self.identity, "esp:", "subscriber_id")
        clicks = (events["event_type"].str.strip().str.lower() == "click").astype(int)
        email = self._windows(events, _day(events["event_at"]), clicks)
        web = lake(self.home, "ga4_web")
        web = web[(web["visitor_id"] != "(not set)") & (_day(web["date"]) <= self.as_of)]
        web = _owner(web, self.identity, "ga4:", "visitor_id")
        sessions = self._windows(web, _day(web["date"]), web["sessions"])
        return email.add(sessions, fill_value=0)

    def crm_profiles(self) -> pd.DataFrame:
        """Per CRM customer: their CRM record's newest version (the most recently updated record when several are
        one person)."""
        crm = _newest(lake(self.home, "crm_customers"), ["customer_id"], ["updated_at"])
        crm = _owner(crm, self.identity, "crm:", "customer_id")
        crm = crm.sort_values(["updated_at", "customer_id"], ascending=[False, True])
        return crm.drop_duplicates("customer_key").set_index("customer_key")

    def crm_joined(self) -> pd.Series:
        """Per CRM customer: the day their CRM record was created."""
        return _day(self.crm_profiles()["created_at"])

    def segments(self, customers: pd.Index) -> pd.DataFrame:
        """For `customers`: age band, young person, double income no kids, value tier, engaged recently."""
        crm = self.crm_profiles().reindex(customers)
        born = _day(crm["birth_date"])
        age = pd.Series([None if pd.isna(b) else self.as_of.year - b.year - ((self.as_of.month, self.as_of.day)
                         < (b.month, b.day)) for b in born], index=customers, dtype="Int64")  # fmt: skip
        bands = [(25, "under 25"), (35, "25-34"), (50, "35-49"), (65, "50-64")]
        band = [("unknown" if pd.isna(a) else next((name for edge, name in bands if a < edge), "65+")) for a in age]
        young = age.between(VARS["segment_young_min_age"], VARS["segment_young_max_age"]).fillna(False)
        couple = (crm["household_partner"].fillna(False).astype(bool) & (crm["household_children"] == 0)).fillna(False)
        dink = couple & age.between(VARS["segment_dink_min_age"], VARS["segment_dink_max_age"]).fillna(False)
        spent = self.orders()["monetary_value"].reindex(customers)
        tier = ["no purchase" if pd.isna(v) else "high value" if v >= 500 else "mid value" if v >= 150 else "low value"
                for v in spent]  # fmt: skip
        recent = self.engagement()["recent"].reindex(customers).fillna(0)
        return pd.DataFrame({"age_band": band, "is_young_person": young.astype(bool),
                             "is_double_income_no_kids": dink.astype(bool), "value_tier": tier,
                             "is_engaged_recently": recent > 0}, index=customers)  # fmt: skip


def reachable(people: pd.DataFrame, consent: dict[str, dict[str, str]], channels: tuple[str, ...]) -> set[str]:
    """The customers of `people` (customer_key, email, phone) a campaign on `channels` may address: marketing
    consent granted (consent_oracle) and an address, on e-mail or SMS."""
    address = {"email": "email", "sms": "phone"}
    found = set()
    for row in people.itertuples(index=False):
        granted = consent.get(row.customer_key, {})
        for channel in channels:
            has_address = getattr(row, address[channel]) is not None and not pd.isna(getattr(row, address[channel]))
            if granted.get(f"{channel}_marketing") == "granted" and has_address:
                found.add(row.customer_key)
    return found


def declined_sharply(recent: int, prior: int) -> bool:
    """reengage_declining's rule, in exact fractions: at least 4 interactions before, and the last 90 days below
    reengage_max_recent_share of the prior 275 days' rate per 90 days."""
    share = Fraction(str(VARS["reengage_max_recent_share"]))
    return prior >= 4 and Fraction(recent) < share * prior * 90 / 275
