"""activation_receipts: each demo campaign's past sends as activation would have left them, with a planted effect.

On every send day of the history (weekly), each campaign's audience is the people the generator's version of the
campaign's rule picks from what it knows to be true (CRM records, orders, sign-ups, clicks). Activation's own
planning then decides, over a send ledger of the history's own, who is sent, held out or suppressed
(`activation.plan_window`: consent as the CRM recorded it by then, a usable address, cooldown, the holdout,
the frequency cap, priority between campaigns) and records the plan as activation does (`activation.record_plan`:
a held-out person waits out the cooldown and uses up the cap as a sent one). Every planned send is delivered.

The receipts land in `landing/activation_receipts/load_date=<send window>/` in the receipts' schema
(`activation.RECEIPT_SCHEMA`); activation moves them into the lake (`activation.import_landed_receipts`), where
dbt reads them as it reads the receipts of the demo's own sends. Each campaign's history ends before its cooldown,
the frequency window and its attribution window reach as_of, so the demo day's sends decide exactly as they
would without it (it is not in the send ledger) and every past send's attribution window is complete.

The planted effect: for every person in a campaign's experiment on a send day (treated or held out) a coin with
the campaign's PLANTED_CHANCE decides whether the message would make them convert; a treated person whose coin
says yes and who would not have converted anyway gets a conversion (a ticket order) on a day within the
attribution window. The true uplift is then exact: the share of the experiment's entries (a person in a send
window, treated or held out) whose coin says yes and who would not have converted without the message (what
campaign_effect_overall measures), recorded per campaign in planted.json (`campaign_history`).
Lapsing regulars' orders are left alone (their story is planted in orders.py), so their coin always says no.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from hourglass import phone, settings
from hourglass.activation import HELD_OUT, RECEIPT_SCHEMA, RECEIPTS, SEND, Decision, Rules, plan_window, record_plan
from hourglass.campaigns import Campaign
from hourglass.consent import Consent
from hourglass.ledger import ClaimOwner, Ledger, Outcome

from . import fields as f
from .catalogue import Catalogue
from .clock import Clock
from .defects import SourceResult
from .newsletter import Clicks
from .orders import TICKET, WORKSHOP, OrderBook
from .people import People

# The chance that a campaign's message makes a treated person convert who would not have converted without it:
# a strong campaign's size (about ten points more converting within the attribution window), which the demo's
# few people can still tell from no effect over three years of weekly sends.
# The abandoner campaign has no history: the sample's web data knows who abandoned a sign-up only for the last
# week's tracked visitors (web.py), after every past send day.
PLANTED_CHANCE = {
    "welcome_new_members": 0.15,
    "cross_sell_workshop_to_theatre": 0.15,
    "winback_lapsed": 0.12,
    "reengage_declining": 0.12,
    "churn_risk_valuable": 0.0,  # the campaign without an effect
}
HISTORY_DAYS = 3 * 365  # as far back as the sample's data goes (clock.Clock.years)
SEND_EVERY_DAYS = 7
SEND_HOUR = 10  # outside every campaign's quiet hours
# The history's people: the first this many persons (a random sample: persons are drawn in random order), all
# of the demo's 2,000, and a bounded cost at a million customers (activation plans row by row).
HISTORY_PEOPLE = 2_000


def audience_models() -> list[dict]:
    """The audience models' yml entries (no dbt parse needed)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [
        model
        for path in sorted((settings.DBT_PROJECT_DIR / "models" / "audiences").glob("*.yml"))
        for model in yaml.load(path.read_text(encoding="utf-8"), Loader=loader).get("models", [])
    ]


def campaigns(models: list[dict]) -> list[Campaign]:
    """The demo's campaigns as activation reads them."""
    return [
        Campaign.from_manifest_node(
            {
                "name": model["name"],
                "config": model.get("config") or {},
                "description": model.get("description") or "",
                "original_file_path": f"models/audiences/{model['name']}.sql",
            }
        )
        for model in models
    ]


def goals(models: list[dict]) -> dict[str, dict]:
    """Each campaign's goal and attribution window as campaign_effect reads them (meta.campaign)."""
    found = {}
    for model in models:
        meta = ((model.get("config") or {}).get("meta") or {}).get("campaign") or {}
        found[model["name"]] = {
            "goal": meta.get("goal", "order"),
            "attribution_days": int(meta.get("attribution_days", settings.dbt_vars()["attribution_days"])),
        }
    return found


def customer_key(customer_id: str) -> str:
    """The key identity_map gives a person whose smallest CRM record is `customer_id`: the first 16 hex digits of
    the md5 of the anchor record id (dbt_project/models/marts/identity_map.sql; tests check the two agree)."""
    return hashlib.md5(f"crm:{customer_id}".encode()).hexdigest()[:16]


@dataclass
class Known:
    """What the generator knows to be true, as the rules read it; days are day numbers."""

    p: People
    book: OrderBook
    clicks: Clicks
    crm: SourceResult

    def __post_init__(self) -> None:
        # whom the generator can name: a CRM customer with an address of their own (a shared family or office
        # address may join two persons into one customer, whose key the generator cannot know) and a record the
        # loader reads (one with a planted defect may be quarantined, and the warehouse never knows them)
        self.nameable = self.p.has_crm & (self.p.shared_group < 0)
        self.nameable[self.crm.known["planted_defect"]] = False
        self.nameable[HISTORY_PEOPLE:] = False
        # the rules read only the history's people: their completed orders (a refunded order keeps its lines)
        ok = (self.book.o_status != 1) & self.nameable[self.book.o_person]
        self.order_person = self.book.o_person[ok]
        self.order_day = self.book.o_time[ok] // f.DAY
        lines = ok[self.book.l_order]
        self.ticket_orders = self._orders_with(lines & (self.book.l_cat == TICKET))
        self.workshop_orders = self._orders_with(lines & (self.book.l_cat == WORKSHOP))
        clicked = self.nameable[self.clicks.person]
        self.click_person = self.clicks.person[clicked]
        self.click_day = self.clicks.time[clicked] // f.DAY

    def _orders_with(self, line_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        orders = np.unique(self.book.l_order[line_mask])
        return self.book.o_person[orders], self.book.o_time[orders] // f.DAY

    def last_before(self, person: np.ndarray, day: np.ndarray, before: int) -> np.ndarray:
        last = np.full(self.p.n, -1, np.int64)
        early = day < before
        np.maximum.at(last, person[early], day[early])
        return last

    def count_between(self, person: np.ndarray, day: np.ndarray, lo: int, hi: int) -> np.ndarray:
        inside = (day >= lo) & (day < hi)
        return np.bincount(person[inside], minlength=self.p.n)


def _rule_members(name: str, k: Known, d: int) -> np.ndarray:
    """The generator's version of each campaign's rule on send day `d`: person indices."""
    p = k.p
    if name == "welcome_new_members":  # joined in the 30 days before
        joined = np.where(p.crm_created >= 0, p.crm_created // f.DAY, -1)
        chosen = (joined >= d - 30) & (joined < d)
    elif name == "winback_lapsed":  # bought, then nothing for half a year to two years
        last = k.last_before(k.order_person, k.order_day, d)
        chosen = (last >= d - 720) & (last < d - 180)
    elif name == "churn_risk_valuable":  # a subscriber who bought before and stopped some months ago
        last = k.last_before(k.order_person, k.order_day, d)
        chosen = p.subscriber & (last < d - 90)
    elif name == "cross_sell_workshop_to_theatre":  # a workshop, never a ticket
        chosen = (k.last_before(*k.workshop_orders, d) >= 0) & (k.last_before(*k.ticket_orders, d) < 0)
    elif name == "reengage_declining":  # clicked a newsletter before, not in the last 90 days
        before = k.count_between(k.click_person, k.click_day, d - 720, d - 90)
        chosen = (before >= 1) & (k.count_between(k.click_person, k.click_day, d - 90, d) == 0)
    else:
        return np.zeros(0, np.int64)
    return np.flatnonzero(chosen & k.nameable)


@dataclass
class Exposures:
    """Each campaign's experiment: one entry per person and send day, treated or held out."""

    person: np.ndarray
    day: np.ndarray
    treated: np.ndarray


class _People:
    """Audience rows and consents of CRM customers as activation would see them on a past day."""

    def __init__(self, k: Known):
        crm = k.crm.known
        persons = crm["persons"]
        self.row_of = np.full(k.p.n, -1, np.int64)
        self.row_of[persons] = np.arange(len(persons))
        self.customer_id = k.crm.record_ids.to_pylist()
        self.email = crm["email"].to_pylist()
        named = np.flatnonzero(k.nameable[persons])  # the only rows the history reads: normalise their phones
        numbers = phone.normalise([crm["phone"][i].as_py() for i in named], [crm["country"][i].as_py() for i in named])
        self.phone: list[str | None] = [None] * len(persons)
        for i, number in zip(named.tolist(), numbers, strict=True):
            self.phone[i] = number
        self.consent = crm["consent"]
        self.shared: dict[frozenset, Consent] = {}

    def row(self, person: int) -> dict:
        i = self.row_of[person]
        cid = self.customer_id[i]
        return {"customer_key": customer_key(cid), "customer_id": cid, "email": self.email[i], "phone": self.phone[i]}

    def consent_at(self, person: int, moment: int) -> Consent:
        i = self.row_of[person]
        granted = frozenset(
            purpose for purpose, (value, at) in self.consent.items() if value[i] == 1 and 0 <= at[i] <= moment
        )
        if granted not in self.shared:
            self.shared[granted] = Consent(granted)
        return self.shared[granted]


def _send_days(clock: Clock) -> list[int]:
    first = max(clock.start, clock.end - HISTORY_DAYS)
    return list(range(first, clock.end, SEND_EVERY_DAYS))


def _last_send_day(campaign: Campaign, clock: Clock, rules: Rules, attribution_days: int) -> int:
    return clock.end - max(campaign.cooldown_days, rules.frequency_days, attribution_days) - 1


def _write_receipts(out: Path, window: dt.date, decisions: list[Decision], moment: dt.datetime) -> int:
    rows = [
        {
            "run_id": f"history-{window.isoformat()}",
            "campaign": d.campaign,
            "send_window": window,
            "customer_key": d.customer_key,
            "channel": d.channel,
            "message_key": d.key,
            "status": "sent" if d.status == SEND else d.status,
            "reason": d.reason,
            "recorded_at": moment,
        }
        for d in decisions
    ]
    folder = out / RECEIPTS / f"load_date={window.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=RECEIPT_SCHEMA), folder / f"history-{window.isoformat()}.parquet")
    return len(rows)


def send(out: Path, k: Known, clock: Clock) -> tuple[dict[str, Exposures], dict[str, dict]]:
    """Plan and 'send' every past window; write its receipts. Returns each campaign's experiment and settings."""
    rules = Rules.from_env()
    zone = ZoneInfo(settings.TIMEZONE)
    models = audience_models()
    chosen = [c for c in campaigns(models) if c.name in PLANTED_CHANCE]
    meta = goals(models)
    last_day = {c.name: _last_send_day(c, clock, rules, meta[c.name]["attribution_days"]) for c in chosen}
    people = _People(k)
    found: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    owner = ClaimOwner(run_id="history")
    receipts = 0
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "history.sqlite") as ledger:
        for d in _send_days(clock):
            window = dt.date(1970, 1, 1) + dt.timedelta(days=d)
            moment = dt.datetime.combine(window, dt.time(SEND_HOUR), zone)
            seconds = d * f.DAY + SEND_HOUR * 3600
            active = [c for c in chosen if d <= last_day[c.name]]
            audiences = {c.name: [int(i) for i in _rule_members(c.name, k, d)] for c in active}
            if not any(audiences.values()):
                continue
            rows, person_of, consents = {}, {}, {}
            for i in sorted({i for members in audiences.values() for i in members}):
                rows[i] = people.row(i)
                person_of[rows[i]["customer_key"]] = i
                consents[rows[i]["customer_key"]] = people.consent_at(i, seconds)
            plans = plan_window(
                active,
                {name: [rows[i] for i in members] for name, members in audiences.items()},
                consents,
                ledger,
                window,
                moment,
                rules,
            )
            decided = []
            for name, decisions in plans.items():
                sends = [x for x in decisions if x.status == SEND]
                record_plan(ledger, name, decisions, window.isoformat())
                claimed = ledger.claim([x.key for x in sends], owner, 60.0)
                ledger.record([Outcome(key, "sent") for key in claimed.taken], owner)
                treated = {x.customer_key for x in sends}
                held = {x.customer_key for x in decisions if x.status == HELD_OUT}
                for key in sorted(treated | held):
                    found[name].append((person_of[key], d, key in treated))
                decided += decisions
            receipts += _write_receipts(out, window, decided, moment.astimezone(dt.UTC))
    experiments = {}
    for c in chosen:
        entries = found.get(c.name, [])
        experiments[c.name] = Exposures(
            np.array([e[0] for e in entries], np.int64),
            np.array([e[1] for e in entries], np.int64),
            np.array([e[2] for e in entries], bool),
        )
    return experiments, meta


def _converted(
    k: Known, goal: str, attribution_days: int, e: Exposures, leave_out: np.ndarray | None = None
) -> np.ndarray:
    """Whether each exposure's person reached the goal within the attribution window after the send (orders from
    `leave_out`, order indices, do not count)."""
    ok = k.book.o_status != 1
    if leave_out is not None:
        ok[leave_out] = False
    if goal != "order":
        raise ValueError(f"the history plants no conversions for the goal {goal!r}")
    orders = np.flatnonzero(ok)
    span = 1 << 20  # days: more than any day number
    keys = np.sort(k.book.o_person[orders] * span + k.book.o_time[orders] // f.DAY)
    lo = np.searchsorted(keys, e.person * span + e.day, side="right")
    hi = np.searchsorted(keys, e.person * span + e.day + attribution_days, side="right")
    return hi > lo


def plant(
    rng: np.random.Generator, k: Known, cat: Catalogue, experiments: dict[str, Exposures], meta: dict[str, dict]
) -> dict[str, dict]:
    """Conversions the messages caused, added to the order book; the truth about each campaign's effect."""
    coins, planted = {}, {}
    for name, e in sorted(experiments.items()):
        chance = PLANTED_CHANCE[name]
        coins[name] = (rng.random(len(e.person)) < chance) & ~k.p.lapsing[e.person]
        if chance == 0:
            planted[name] = np.zeros(0, np.int64)
            continue
        goal, window = meta[name]["goal"], meta[name]["attribution_days"]
        new = np.flatnonzero(e.treated & coins[name] & ~_converted(k, goal, window, e))
        person, day = e.person[new], e.day[new] + 1 + rng.integers(0, window, len(new))
        when = day * f.DAY + Clock.times_of_day(rng, len(new))
        first = len(k.book.o_person)
        performance = cat.next_performance(day + rng.integers(3, 45, len(new)))
        k.book.add_orders(person, when, TICKET, performance, cat.perf_day[performance],
                          np.full(len(new), 2), cat.show_price[cat.perf_show[performance]])  # fmt: skip
        planted[name] = np.arange(first, len(k.book.o_person))
    truth = {}
    for name, e in sorted(experiments.items()):
        goal, window = meta[name]["goal"], meta[name]["attribution_days"]
        effect = coins[name]
        if PLANTED_CHANCE[name]:
            effect = effect & ~_converted(k, goal, window, e, planted[name])
        days = sorted(set(e.day.tolist()))
        truth[name] = {
            **meta[name],
            "people": int(len(np.unique(e.person))),
            "send_windows": len(days),
            "first_send_window": _iso(days[0]) if days else None,
            "last_send_window": _iso(days[-1]) if days else None,
            "treated": int(e.treated.sum()),
            "held_out": int((~e.treated).sum()),
            "treated_people": int(len(np.unique(e.person[e.treated]))),
            "held_out_people": int(len(np.unique(e.person[~e.treated]))),
            "planted_chance": PLANTED_CHANCE[name],
            "planted_conversions": int(len(planted[name])),
            "planted_uplift": float(effect.mean()) if len(effect) else 0.0,
            "direction": "positive" if PLANTED_CHANCE[name] > 0 else "none",
        }
    return truth


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
