"""esp_events: the e-mail service provider's export of sends, deliveries, opens, clicks, bounces,
unsubscribes and spam complaints for the monthly newsletter and the campaigns (UTF-8 with a BOM).

Every click carries the subscriber's tracking id in its URL (?hg_vid=...) and in tracking_id; the web module
turns those clicks into GA4 sessions from newsletter / email.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .catalogue import Catalogue
from .clock import Clock
from .defects import INVALID_EMAILS, Planter, SourceResult
from .people import People, typed_email
from .writer import quote_where_needed

SITE = "https://www.dezandloper.nl"
EVENT_TYPES = ("send", "delivered", "open", "click", "bounce", "unsubscribe", "spam_complaint")
SEND, DELIVERED, OPEN, CLICK, BOUNCE, UNSUB, SPAM = range(7)
CAMPAIGN_THEMES = (
    "seizoensstart",
    "workshops-najaar",
    "kerst",
    "nieuwjaar",
    "voorjaar",
    "cadeaukaart",
    "laatste-kaarten",
    "magazine-actie",
    "vrienden-werven",
    "zomeratelier",
)
ESP_DAYS = 730  # the ESP was introduced two years ago; subscribers were imported then


@dataclass
class Clicks:
    person: np.ndarray
    time: np.ndarray
    page: np.ndarray  # index into Catalogue.page_paths


def visitor_id_rows(numbers: np.ndarray, seed: int) -> np.ndarray:
    """Visitor ids (= ESP tracking ids) as a fixed-width matrix, one row per visitor number."""
    return f.hex_rows(numbers, key=0x5EED0000 + seed)


def _mailings(rng: np.random.Generator, lo: int, hi: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    days = np.arange(lo, hi)
    d64 = days.astype("datetime64[D]")
    month = d64.astype("datetime64[M]")
    weekday = (days + 3) % 7
    dom = (d64 - month.astype("datetime64[D]")).astype(np.int64)
    news = days[(weekday == 3) & (dom < 7)]  # first Thursday of the month
    ids = [f"NB-{str(d.astype('datetime64[M]'))}" for d in news.astype("datetime64[D]")]
    share = [1.0] * len(news)
    cdays = np.sort(
        rng.choice(
            days[(month.astype(np.int64) % 12 + 1 != 7) & (weekday != 6)],
            size=max(1, int(len(days) / 36)),
            replace=False,
        )
    )
    for i, d in enumerate(cdays.astype("datetime64[D]")):
        ids.append(f"CP-{str(d.astype('datetime64[M]'))}-{CAMPAIGN_THEMES[i % len(CAMPAIGN_THEMES)]}")
        share.append(float(rng.uniform(0.2, 0.5)))
    all_days = np.concatenate([news, cdays])
    order = np.argsort(all_days, kind="stable")
    return [ids[i] for i in order], all_days[order], np.array(share)[order]


def build(rng: np.random.Generator, p: People, cat: Catalogue, clock: Clock, seed: int) -> tuple[SourceResult, Clicks]:
    lo, end = clock.window(ESP_DAYS)
    end_s = end * f.DAY
    subs = np.flatnonzero(p.in_esp)
    ns = len(subs)
    sub_day = np.where(rng.random(ns) < 0.6, lo, clock.seasonal_days(rng, ns, lo, end))
    first_seen = np.where(p.crm_created[subs] >= 0, p.crm_created[subs] // f.DAY, p.lead_created[subs] // f.DAY)
    sub_day = np.where((first_seen > sub_day) & (first_seen < end), first_seen, sub_day)
    unsub_day = np.where(
        rng.random(ns) < 0.09, sub_day + (rng.random(ns) * (end - sub_day)).astype(np.int64), end + 10_000
    )
    engagement = rng.beta(1.1, 2.2, ns)
    sub_order = np.lexsort((subs, sub_day))
    sub_no = np.empty(ns, np.int64)
    sub_no[sub_order] = np.arange(1, ns + 1)
    sub_email = typed_email(rng, pc.take(p.email, pa.array(subs)), p_case=0.15, p_space=0.06)

    mailing_ids, mailing_day, share = _mailings(rng, lo, end)
    pair_sub, pair_mail = [], []
    for j, d in enumerate(mailing_day):
        active = (sub_day <= d) & (unsub_day > d)
        if share[j] < 1.0:
            active &= rng.random(ns) < share[j]
        idx = np.flatnonzero(active)
        pair_sub.append(idx)
        pair_mail.append(np.full(len(idx), j))
    s_sub = np.concatenate(pair_sub) if pair_sub else np.zeros(0, np.int64)
    s_mail = np.concatenate(pair_mail) if pair_mail else np.zeros(0, np.int64)
    k = len(s_sub)
    s_sub = s_sub.astype(np.int32)
    s_mail = s_mail.astype(np.int16)
    eng = engagement.astype(np.float32)[s_sub]
    i32 = np.int32
    send_at = mailing_day[s_mail] * f.DAY + 36_000 + rng.integers(0, 7_200, k, dtype=i32)
    bounced = rng.random(k, dtype=np.float32) < 0.012
    deliv_at = send_at + rng.integers(1, 120, k, dtype=i32)
    opened = ~bounced & (rng.random(k, dtype=np.float32) < eng)
    delay = np.minimum(rng.standard_exponential(k, dtype=np.float32) * (6 * 3600), 14 * f.DAY).astype(i32)
    open_at = deliv_at + delay
    opened &= open_at < end_s
    reopen = opened & (rng.random(k, dtype=np.float32) < 0.25)
    reopen_at = open_at + rng.integers(600, 3 * f.DAY, k, dtype=i32)
    reopen &= reopen_at < end_s
    clicked = opened & (rng.random(k, dtype=np.float32) < 0.12 + 0.3 * eng)
    click_at = open_at + rng.integers(5, 600, k, dtype=i32)
    clicked &= click_at < end_s
    spam = ~bounced & (rng.random(k, dtype=np.float32) < 0.0004)
    spam_at = deliv_at + rng.integers(60, 2 * f.DAY, k, dtype=i32)
    spam &= spam_at < end_s
    page = np.full(k, -1, np.int16)
    page[clicked] = rng.choice(len(cat.page_paths), int(clicked.sum()), p=cat.page_weights)
    unsub = np.flatnonzero(unsub_day < end)
    unsub_at = unsub_day[unsub] * f.DAY + Clock.times_of_day(rng, len(unsub))

    parts = [
        (np.arange(k), SEND, send_at),
        (np.flatnonzero(~bounced), DELIVERED, deliv_at[~bounced]),
        (np.flatnonzero(bounced), BOUNCE, deliv_at[bounced]),
        (np.flatnonzero(opened), OPEN, open_at[opened]),
        (np.flatnonzero(reopen), OPEN, reopen_at[reopen]),
        (np.flatnonzero(clicked), CLICK, click_at[clicked]),
        (np.flatnonzero(spam), SPAM, spam_at[spam]),
    ]
    e_send = np.concatenate([x[0] for x in parts])
    e_type = np.concatenate([np.full(len(x[0]), x[1], np.int8) for x in parts])
    e_at = np.concatenate([x[2] for x in parts])
    e_sub = s_sub[e_send]
    e_mail = s_mail[e_send]
    e_page = page[e_send]
    # unsubscribes are not tied to a send
    e_sub = np.concatenate([e_sub, unsub.astype(np.int32)])
    e_mail = np.concatenate([e_mail, np.full(len(unsub), -1, np.int16)])
    e_page = np.concatenate([e_page, np.full(len(unsub), -1, np.int16)])
    e_type = np.concatenate([e_type, np.full(len(unsub), UNSUB, np.int8)])
    e_at = np.concatenate([e_at, unsub_at])
    # unique keys (time, subscriber, event type, mailing), so an unstable sort is still deterministic
    key = ((e_at * (ns + 1) + sub_no[e_sub]) * 8 + e_type) * (len(mailing_ids) + 1) + (e_mail + 1)
    order = np.argsort(key)
    del key
    e_sub, e_mail, e_page, e_type, e_at = e_sub[order], e_mail[order], e_page[order], e_type[order], e_at[order]
    n = len(e_at)

    is_click = e_type == CLICK
    # defects and duplicates are planted on the index level, before any text is built
    plant = Planter(rng, n, rate=0.002)
    plant.reserve(np.arange(max(0, n - 1), n))  # the last row is cut off instead
    bad_email = plant.pick("invalid_email", ~is_click)
    no_time = plant.pick("missing_required", ~is_click)
    dup = plant.pick("exact_duplicate", ~is_click)
    repeat = np.ones(n, np.int64)
    repeat[dup] = 2
    row = np.repeat(np.arange(n), repeat)  # final row -> event
    event_no = np.repeat(np.arange(1, n + 1), repeat)
    missing_at = np.zeros(n, bool)
    missing_at[no_time] = True
    email_idx = e_sub.copy()
    email_idx[bad_email] = ns + np.arange(len(bad_email))
    email_table = pa.concat_arrays(
        [sub_email, pa.array(plant.values(INVALID_EMAILS + ("jan.devries@",), len(bad_email)), pa.string())]
    )
    if n:
        plant.counts["truncated_row"] = 1

    clicks_at = np.flatnonzero(is_click)
    click_of_event = np.full(n, -1, np.int64)
    click_of_event[clicks_at] = np.arange(len(clicks_at))
    c_tracking = f.fixed_width(visitor_id_rows(p.visitor_no[subs[e_sub[clicks_at]]], seed))
    c_url = f.concat(
        SITE,
        f.pick(cat.page_paths, e_page[clicks_at]),
        "?hg_vid=",
        c_tracking,
        "&utm_source=newsletter&utm_medium=email&utm_campaign=",
        f.pick(mailing_ids, e_mail[clicks_at]),
    )
    c_row = click_of_event[row]
    sub_rows = f.padded_id_rows("SUB", sub_no, 7)
    sub_ids = f.fixed_width(sub_rows)
    f_sub, f_email, f_type, f_at, f_missing, f_mail = (
        e_sub[row],
        email_idx[row],
        e_type[row],
        e_at[row],
        missing_at[row],
        e_mail[row],
    )

    email_quoted = quote_where_needed(email_table, ",")  # quoted once per address, not once per row

    def text(a: int, b: int) -> dict[str, pa.Array]:
        """The text of final rows [a, b): built chunk by chunk while writing (no randomness here)."""
        cr = c_row[a:b]
        return {
            "event_id": f.padded_ids("EV", event_no[a:b], 9),
            "subscriber_id": f.gather(sub_rows, f_sub[a:b]),
            "email": pc.take(email_quoted, pa.array(f_email[a:b])),
            "event_type": f.pick(EVENT_TYPES, f_type[a:b]),
            "event_at": f.timestamps(f_at[a:b], missing=f_missing[a:b]),
            "mailing_id": f.pick(mailing_ids, np.maximum(f_mail[a:b], 0), f_mail[a:b] < 0),
            "url": f.pick(c_url, np.maximum(cr, 0), cr < 0),
            "tracking_id": f.pick(c_tracking, np.maximum(cr, 0), cr < 0),
        }

    clicks = Clicks(person=subs[e_sub[is_click]], time=e_at[is_click], page=e_page[is_click])
    email_rows = (email_table, np.bincount(email_idx[row], minlength=len(email_table)))
    result = SourceResult(
        columns={},
        text=text,
        n_rows=len(row),
        email_rows=email_rows,
        record_ids=sub_ids,
        record_person=subs + 1,
        defects=plant.counts,
        bom=True,
        truncate_last_row=n > 0,
        facts={"subscribers": int(ns), "mailings": len(mailing_ids)},
        free_text=(),
    )
    return result, clicks
