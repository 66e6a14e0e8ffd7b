"""ga4_web: GA4 report rows (date x visitor x source/medium x page x event) for the last 400 days.

Visit-days come from three places: newsletter clicks (the visitor id is the ESP tracking id), known persons
browsing on their own, and anonymous visitors. On top of that the workshop sign-up funnel is planted:
completed sign-ups for web registrations in the ERP, and abandoned ones (start without complete), some of which
the same person registers for later in the ERP, some only days before as_of: among those, CRM customers the site
knows from a tracked e-mail click, whom the abandoner campaign can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import fields as f
from .catalogue import Catalogue
from .clock import Clock
from .defects import Planter, SourceResult
from .newsletter import Clicks, visitor_id_rows
from .orders import OrderBook
from .people import People

GA4_DAYS = 400
RECENT_DAYS = 7
# Share of the CRM customers known from a tracked e-mail click who start a workshop sign-up in the RECENT_DAYS
# before as_of and leave it: the workshop_signup_abandoners campaign's members.
RECENT_KNOWN_SHARE = 0.12
SOURCES = (
    ("newsletter / email", 0.0),
    ("google / organic", 0.36),
    ("(direct) / (none)", 0.24),
    ("instagram / social", 0.08),
    ("facebook / social", 0.06),
    ("google / cpc", 0.07),
    ("bing / organic", 0.03),
    ("uitagenda.nl / referral", 0.04),
    ("linkedin / social", 0.01),
    ("tiktok / social", 0.02),
    ("ticketpartner.nl / referral", 0.03),
    ("duckduckgo / organic", 0.02),
    ("chatgpt.com / referral", 0.02),
    ("(not set) / (not set)", 0.02),
)
EVENTS = (
    "page_view",
    "session_start",
    "scroll",
    "user_engagement",
    "workshop_signup_start",
    "workshop_signup_complete",
)
PAGE_VIEW, SESSION_START, SCROLL, ENGAGE, START, COMPLETE = range(6)


@dataclass
class Funnel:
    """Planted sign-up funnel facts, computed from the rows actually written."""

    abandoned_signups: int
    abandoned_visitors: int
    abandoned_by_known_persons: int
    registered_later: int
    recent_abandoned_signups: int
    completed_signups: int

    def as_dict(self) -> dict:
        return {
            "definition": (
                "an abandoned sign-up is a (visitor_id, workshop slug) pair with a workshop_signup_start on "
                "/workshops/<slug>/aanmelden and no workshop_signup_complete for that slug; registered_later: the "
                "same person (persons.parquet) has a completed erp_orders line for WS-<slug> dated on or after the "
                f"last start; recent: last start within the {RECENT_DAYS} days before as_of"
            ),
            "abandoned_signups": self.abandoned_signups,
            "abandoned_visitors": self.abandoned_visitors,
            "abandoned_by_known_persons": self.abandoned_by_known_persons,
            "registered_later": self.registered_later,
            "recent_abandoned_signups": self.recent_abandoned_signups,
            "recent_days": RECENT_DAYS,
            "completed_signups": self.completed_signups,
        }


def build(
    rng: np.random.Generator, p: People, clicks: Clicks, book: OrderBook, cat: Catalogue, clock: Clock, seed: int
) -> tuple[SourceResult, Funnel]:
    lo, end = clock.window(GA4_DAYS)
    n_pages = len(cat.page_paths)
    n_ws = len(cat.workshop_slugs)
    signup_page = n_pages + np.arange(n_ws)  # /workshops/<slug>/aanmelden
    thanks_page = n_pages + n_ws + np.arange(n_ws)  # /workshops/<slug>/aanmelden/bedankt
    ws_page = np.array([cat.page_paths.index(f"/workshops/{s}") for s in cat.workshop_slugs])
    all_paths = (
        list(cat.page_paths)
        + [f"/workshops/{s}/aanmelden" for s in cat.workshop_slugs]
        + [f"/workshops/{s}/aanmelden/bedankt" for s in cat.workshop_slugs]
    )
    src_w = np.array([w for _, w in SOURCES])
    src_w = src_w / src_w.sum()

    # --- visitors: known persons first, then anonymous ones
    web_persons = np.flatnonzero(p.on_web)
    n_known = int(p.visitor_no.max()) + 1 if len(web_persons) else 0
    person_of_visitor = np.full(n_known, -1, np.int64)
    person_of_visitor[p.visitor_no[web_persons]] = web_persons
    n_anon = int(round(1.2 * n_known))
    person_of_visitor = np.concatenate([person_of_visitor, np.full(n_anon, -1, np.int64)])

    # --- regular visit-days
    in_win = (clicks.time >= lo * f.DAY) & (clicks.time < end * f.DAY)
    v_click = p.visitor_no[clicks.person[in_win]]
    d_click = clicks.time[in_win] // f.DAY
    l_click = clicks.page[in_win]
    k_known = rng.negative_binomial(1.2, 1.2 / (1.2 + 2.6), n_known)
    k_anon = 1 + rng.geometric(0.7, n_anon) - 1
    v_own = np.concatenate([np.repeat(np.arange(n_known), k_known), n_known + np.repeat(np.arange(n_anon), k_anon)])
    m = len(v_own)
    d_own = clock.seasonal_days(rng, m, lo, end)
    vd_visitor = np.concatenate([v_click, v_own])
    vd_day = np.concatenate([d_click, d_own])
    vd_src = np.concatenate([np.zeros(len(v_click), np.int64), rng.choice(len(SOURCES), m, p=src_w)])
    vd_land = np.concatenate([l_click, rng.choice(n_pages, m, p=cat.page_weights)])
    nv = len(vd_visitor)
    # compact dtypes: these arrays grow to tens of millions of rows
    vd_visitor, vd_day = vd_visitor.astype(np.int32), vd_day.astype(np.int32)
    vd_src, vd_land = vd_src.astype(np.int8), vd_land.astype(np.int16)
    vd_pages = rng.geometric(0.42, nv).astype(np.int32)
    vd_sessions = (1 + (rng.random(nv, dtype=np.float32) < 0.08)).astype(np.int8)

    # rows: landing page_view + session_start, then further page_views; scroll and engagement on some pages
    r_vd = np.repeat(np.arange(nv, dtype=np.int32), vd_pages)
    pos = np.arange(len(r_vd)) - np.repeat(np.cumsum(vd_pages) - vd_pages, vd_pages)
    r_page = np.where(pos == 0, vd_land[r_vd], rng.choice(n_pages, len(r_vd), p=cat.page_weights).astype(np.int16))
    extra_scroll = rng.random(len(r_vd), dtype=np.float32) < 0.4
    extra_engage = rng.random(len(r_vd), dtype=np.float32) < 0.6
    land = np.flatnonzero(pos == 0)
    rows_vd = np.concatenate([r_vd, r_vd[land], r_vd[extra_scroll], r_vd[extra_engage]])
    rows_page = np.concatenate([r_page, r_page[land], r_page[extra_scroll], r_page[extra_engage]])
    rows_event = np.concatenate(
        [
            np.full(len(r_vd), PAGE_VIEW, np.int8),
            np.full(len(land), SESSION_START, np.int8),
            np.full(int(extra_scroll.sum()), SCROLL, np.int8),
            np.full(int(extra_engage.sum()), ENGAGE, np.int8),
        ]
    )
    visitor = vd_visitor[rows_vd]
    day = vd_day[rows_vd]
    src = vd_src[rows_vd]
    sessions = vd_sessions[rows_vd]

    # --- funnel: completed sign-ups for part of the ERP workshop registrations of web visitors
    wl = book.workshop_lines()
    w_time = book.o_time[book.l_order[wl]]
    w_person = book.o_person[book.l_order[wl]]
    ok = (w_time >= lo * f.DAY) & (p.visitor_no[w_person] >= 0) & (rng.random(len(wl)) < 0.5)
    c_visitor = p.visitor_no[w_person[ok]]
    c_ws = book.l_prod[wl[ok]]
    c_day = w_time[ok] // f.DAY
    # --- abandoned sign-ups: known persons and anonymous visitors
    n_ab_known = max(12, int(round(0.012 * n_known)))
    n_ab_anon = max(3, int(round(0.003 * n_anon)))
    a_visitor = (
        np.concatenate([rng.choice(n_known, n_ab_known), n_known + rng.choice(n_anon, n_ab_anon)])
        if n_known
        else np.zeros(0, np.int64)
    )
    na = len(a_visitor)
    a_ws = rng.choice(n_ws, na)
    recent = rng.random(na) < 0.12
    recent[: min(3, na)] = True  # always a few fresh ones
    a_day = np.where(
        recent, end - 1 - rng.integers(0, RECENT_DAYS, na), clock.seasonal_days(rng, na, lo, end - RECENT_DAYS)
    )
    # and in the week before as_of, CRM customers the site knows from a tracked e-mail click
    e_person = _known_from_clicks(rng, p, clicks, end - RECENT_DAYS)
    ne = len(e_person)
    a_visitor = np.concatenate([a_visitor, p.visitor_no[e_person]])
    a_ws = np.concatenate([a_ws, rng.choice(n_ws, ne)])
    a_day = np.concatenate([a_day, end - 1 - rng.integers(0, RECENT_DAYS, ne)])
    recent = np.concatenate([recent, np.ones(ne, bool)])
    key_c = c_visitor * n_ws + c_ws
    key_a = a_visitor * n_ws + a_ws
    keep = ~np.isin(key_a, key_c)
    keep &= np.r_[True, np.diff(np.sort(key_a)) != 0][np.argsort(np.argsort(key_a, kind="stable"), kind="stable")]
    a_visitor, a_ws, a_day, recent = a_visitor[keep], a_ws[keep], a_day[keep], recent[keep]
    na = len(a_visitor)
    again = np.flatnonzero((rng.random(na) < 0.15) & (a_day - lo > 3))
    again_day = a_day[again] - 1 - (rng.random(len(again)) * np.minimum(30, a_day[again] - lo - 1)).astype(np.int64)
    # registered later: CRM customers among the abandoners, by phone or at the desk, 1-6 days later
    a_person = person_of_visitor[a_visitor]
    can = (a_person >= 0) & ~recent & (a_day <= end - 3)
    can &= np.where(a_person >= 0, p.has_crm[np.maximum(a_person, 0)], False)
    reg = np.flatnonzero(can & (rng.random(na) < 0.3))
    if len(reg) < 3:  # small runs still get a few
        reg = np.union1d(reg, np.flatnonzero(can)[:3])
    reg_day = a_day[reg] + 1 + (rng.random(len(reg)) * np.minimum(6, end - 1 - a_day[reg])).astype(np.int64)
    reg_time = reg_day * f.DAY + Clock.times_of_day(rng, len(reg), "office")
    book.add_registrations(a_person[reg], a_ws[reg], reg_time, cat, rng, clock)

    def funnel_rows(v, ws, d, complete: bool):
        k = len(v)
        s = rng.choice(len(SOURCES) - 1, k, p=src_w[1:] / src_w[1:].sum()) + 1
        pages = [ws_page[ws], signup_page[ws], signup_page[ws]]
        events = [np.full(k, PAGE_VIEW), np.full(k, PAGE_VIEW), np.full(k, START)]
        if complete:
            pages += [thanks_page[ws], thanks_page[ws]]
            events += [np.full(k, PAGE_VIEW), np.full(k, COMPLETE)]
        j = len(pages)
        return (
            np.tile(v, j).astype(np.int32),
            np.tile(d, j).astype(np.int32),
            np.tile(s, j).astype(np.int8),
            np.concatenate(pages).astype(np.int16),
            np.concatenate(events).astype(np.int8),
            np.ones(k * j, np.int8),
        )

    blocks = [
        (visitor, day, src, rows_page, rows_event, sessions),
        funnel_rows(c_visitor, c_ws, c_day, True),
        funnel_rows(a_visitor, a_ws, a_day, False),
        funnel_rows(a_visitor[again], a_ws[again], again_day, False),
    ]
    visitor, day, src, page, event, sessions = (np.concatenate([b[i] for b in blocks]) for i in range(6))
    is_view = event == PAGE_VIEW
    count = (1 + (is_view & (rng.random(len(event), dtype=np.float32) < 0.15))).astype(np.int32)
    seconds = np.minimum(rng.standard_exponential(len(event), dtype=np.float32) * 35, 3_600).astype(np.int32)
    engage = np.where(is_view, seconds, 0).astype(np.int32)

    # --- one row per key: (date, visitor, source/medium, page, event)
    n_src, n_all_pages, n_ev = len(SOURCES), len(all_paths), len(EVENTS)
    key = (day - lo).astype(np.int64) * len(person_of_visitor) + visitor
    key = ((key * n_src + src) * n_all_pages + page) * n_ev + event
    order = np.argsort(key)  # rows with equal keys are merged, so the sort need not be stable
    ks = key[order]
    first = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]]) if len(ks) else np.zeros(0, np.int64)
    head = order[first]
    count = np.add.reduceat(count[order], first) if len(first) else count[:0]
    engage = np.add.reduceat(engage[order], first) if len(first) else engage[:0]
    sessions = np.maximum.reduceat(sessions[order], first) if len(first) else sessions[:0]
    visitor, day, src, page, event = visitor[head], day[head], src[head], page[head], event[head]
    n = len(head)

    used = np.flatnonzero(np.bincount(visitor, minlength=len(person_of_visitor)))
    vids = visitor_id_rows(np.arange(len(person_of_visitor)), seed)  # known visitors share the ESP tracking ids
    plant = Planter(rng, n, rate=0.002)
    rows = plant.pick("missing_required", (event != START) & (event != COMPLETE))
    no_engagement = np.zeros(n, bool)
    no_engagement[rows] = True
    ssm = pa.array([s for s, _ in SOURCES], pa.string())
    paths_arr = pa.array(all_paths, pa.string())
    events_arr = pa.array(EVENTS, pa.string())

    def text(a: int, b: int) -> dict[str, pa.Array]:
        """The text of rows [a, b): built chunk by chunk while writing (no randomness here)."""
        return {
            "date": f.dates(day[a:b]),
            "visitor_id": f.gather(vids, visitor[a:b]),
            "session_source_medium": f.pick(ssm, src[a:b]),
            "page_path": f.pick(paths_arr, page[a:b]),
            "event_name": f.pick(events_arr, event[a:b]),
            "event_count": f.integers(count[a:b]),
            "sessions": f.integers(sessions[a:b]),
            # whole seconds, as GA4 reports userEngagementDuration
            "engagement_seconds": f.integers(engage[a:b], no_engagement[a:b]),
        }

    funnel = _measure(book, p, person_of_visitor, visitor, day, page, event, signup_page, thanks_page, n_ws, end)
    record_person = np.where(person_of_visitor[used] >= 0, person_of_visitor[used] + 1, 0)
    result = SourceResult(
        columns={},
        text=text,
        n_rows=n,
        record_ids=f.gather(vids, used),
        record_person=record_person,
        defects=plant.counts,
        free_text=(),
        facts={"visitors": int(len(used)), "anonymous_visitors": int((person_of_visitor[used] < 0).sum())},
    )
    return result, funnel


def _known_from_clicks(rng: np.random.Generator, p: People, clicks: Clicks, before_day: int) -> np.ndarray:
    """RECENT_KNOWN_SHARE of the CRM customers who clicked a tracked e-mail link before `before_day`: the tracking
    id in the link is their visitor id, so identity ties their later visits to them. A shared family or office
    address does not tie anyone, so those are left out."""
    clicked = np.zeros(p.n, bool)
    clicked[clicks.person[clicks.time < before_day * f.DAY]] = True
    pool = np.flatnonzero(clicked & p.has_crm & (p.shared_group < 0))
    return np.sort(rng.choice(pool, int(round(RECENT_KNOWN_SHARE * len(pool))), replace=False))


def _measure(book, p, person_of_visitor, visitor, day, page, event, signup_page, thanks_page, n_ws, end) -> Funnel:
    is_start = event == START
    is_done = event == COMPLETE
    s_key = visitor[is_start] * n_ws + (page[is_start] - signup_page[0])
    c_key = np.unique(visitor[is_done] * n_ws + (page[is_done] - thanks_page[0]))
    s_day = day[is_start]
    order = np.lexsort((s_day, s_key))
    s_key, s_day = s_key[order], s_day[order]
    last = np.flatnonzero(np.r_[s_key[1:] != s_key[:-1], True]) if len(s_key) else np.zeros(0, np.int64)
    pair, last_day = s_key[last], s_day[last]
    ab = ~np.isin(pair, c_key)
    pair, last_day = pair[ab], last_day[ab]
    a_vis = pair // n_ws
    a_ws = pair % n_ws
    a_person = person_of_visitor[a_vis]
    # completed ERP workshop lines per (person, workshop) with their order days
    wl = book.workshop_lines()
    w_key = book.o_person[book.l_order[wl]] * n_ws + book.l_prod[wl]
    w_day = book.o_time[book.l_order[wl]] // f.DAY
    o = np.lexsort((w_day, w_key))
    w_key, w_day = w_key[o], w_day[o]
    q = np.where(a_person >= 0, a_person * n_ws + a_ws, -1)
    # latest registration day per (person, workshop) pair
    lastw = np.flatnonzero(np.r_[w_key[1:] != w_key[:-1], True]) if len(w_key) else np.zeros(0, np.int64)
    uk, ud = w_key[lastw], w_day[lastw]
    pos = np.searchsorted(uk, q)
    pos_c = np.minimum(pos, max(len(uk) - 1, 0))
    found = (q >= 0) & (len(uk) > 0) & (uk[pos_c] == q) if len(uk) else np.zeros(len(q), bool)
    later = found & (ud[pos_c] >= last_day) if len(uk) else found
    return Funnel(
        abandoned_signups=int(len(pair)),
        abandoned_visitors=int(len(np.unique(a_vis))),
        abandoned_by_known_persons=int((a_person >= 0).sum()),
        registered_later=int(later.sum()),
        recent_abandoned_signups=int((last_day >= end - RECENT_DAYS).sum()),
        completed_signups=int(len(c_key)),
    )
