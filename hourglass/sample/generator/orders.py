"""erp_orders: ticket, workshop and merchandise order lines from the ERP (a Dutch-locale, Latin-1 export).

Built in two steps: an OrderBook of plain arrays that the web module can read (which workshop registrations
went through the site) and add to (abandoned sign-ups that were completed later by phone or at the desk), and
then the formatted lines. A refunded order keeps its completed lines and gains one refund line per line, with
negative quantity and amount.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .catalogue import Catalogue
from .clock import Clock
from .defects import BAD_AMOUNTS, BAD_DATES, BAD_TIMESTAMPS, Overrides, Planter, SourceResult
from .people import People, typed_email
from .writer import quote_where_needed

CATEGORIES = ("ticket", "workshop", "merchandise")
STATUSES = ("completed", "cancelled", "refunded")
TICKET, WORKSHOP, MERCH = 0, 1, 2


@dataclass
class OrderBook:
    o_person: np.ndarray
    o_guest: np.ndarray
    o_time: np.ndarray
    o_status: np.ndarray
    l_order: np.ndarray
    l_no: np.ndarray
    l_cat: np.ndarray
    l_prod: np.ndarray  # index into the category's catalogue list (performance index for tickets)
    l_eday: np.ndarray  # -1 for merchandise
    l_qty: np.ndarray
    l_price: np.ndarray  # cents

    def workshop_lines(self) -> np.ndarray:
        """Workshop lines written as completed (index into the l_ arrays); a refunded order's lines stay completed."""
        return np.flatnonzero((self.l_cat == WORKSHOP) & (self.o_status[self.l_order] != 1))

    def add_registrations(
        self,
        person: np.ndarray,
        workshop: np.ndarray,
        when: np.ndarray,
        cat: Catalogue,
        rng: np.random.Generator,
        clock: Clock,
    ) -> None:
        """One completed single-line workshop order per entry, by a CRM customer."""
        k = len(person)
        event_day = when // f.DAY + rng.integers(7, 60, k)
        self.add_orders(person, when, WORKSHOP, workshop, event_day, np.ones(k, np.int64), cat.workshop_price[workshop])

    def add_orders(
        self,
        person: np.ndarray,
        when: np.ndarray,
        category: int,
        product: np.ndarray,
        event_day: np.ndarray,
        quantity: np.ndarray,
        price: np.ndarray,
    ) -> None:
        """One completed single-line order of `category` per entry, by a CRM customer."""
        k = len(person)
        first = len(self.o_person)
        self.o_person = np.concatenate([self.o_person, person])
        self.o_guest = np.concatenate([self.o_guest, np.zeros(k, bool)])
        self.o_time = np.concatenate([self.o_time, when])
        self.o_status = np.concatenate([self.o_status, np.zeros(k, np.int64)])
        self.l_order = np.concatenate([self.l_order, first + np.arange(k)])
        self.l_no = np.concatenate([self.l_no, np.ones(k, np.int64)])
        self.l_cat = np.concatenate([self.l_cat, np.full(k, category)])
        self.l_prod = np.concatenate([self.l_prod, product])
        self.l_eday = np.concatenate([self.l_eday, event_day])
        self.l_qty = np.concatenate([self.l_qty, quantity])
        self.l_price = np.concatenate([self.l_price, price])


def plan(rng: np.random.Generator, p: People, cat: Catalogue, clock: Clock) -> OrderBook:
    start, end = clock.start, clock.end
    crm = np.flatnonzero(p.has_crm)
    count = np.where(rng.random(len(crm)) < 0.3, 0, 1 + rng.geometric(0.35, len(crm)) - 1)
    lapsing = p.lapsing[crm]
    count[lapsing] = rng.integers(LAPSING_ORDERS[0], LAPSING_ORDERS[1] + 1, int(lapsing.sum()))
    buyer = np.repeat(crm, count)
    prospects = np.flatnonzero(~p.has_crm)
    n_guest = int(0.1 * len(buyer))
    guests = rng.choice(prospects, n_guest) if len(prospects) else np.zeros(0, np.int64)
    o_person = np.concatenate([buyer, guests])
    n = len(o_person)
    o_guest = np.concatenate([rng.random(len(buyer)) < 0.03, np.ones(n_guest, bool)])
    day = clock.seasonal_days(rng, n)
    created = np.where(p.crm_created[o_person] >= 0, p.crm_created[o_person] // f.DAY, start)
    late = day < created
    day = np.where(late, created + (rng.random(n) * (end - created)).astype(np.int64), day)
    day = np.minimum(day, end - 1)
    # Some regular buyers stop coming (BG/NBD's dropout): all their orders fall before the day they left,
    # which is what gives the churn-risk and winback audiences their members.
    left = (count >= 3) & (rng.random(len(crm)) < 0.3)
    stay = np.concatenate([np.repeat(rng.uniform(0.2, 0.6, len(crm)), count), np.ones(n_guest)])
    gone = np.concatenate([np.repeat(left, count), np.zeros(n_guest, bool)])
    day = np.where(gone, created + ((day - created) * stay).astype(np.int64), day)
    lapsed = np.concatenate([np.repeat(lapsing, count), np.zeros(n_guest, bool)])
    day[lapsed] = _lapsing_days(rng, count[lapsing], end)
    o_guest[lapsed] = False
    o_time = day * f.DAY + Clock.times_of_day(rng, n)
    o_status = rng.choice(3, n, p=[0.9, 0.04, 0.06])
    o_status[lapsed] = 0

    nlines = 1 + (rng.random(n) < 0.3) + (rng.random(n) < 0.1)
    l_order = np.repeat(np.arange(n), nlines)
    m = len(l_order)
    starts = np.cumsum(nlines) - nlines
    l_no = np.arange(m) - np.repeat(starts, nlines) + 1
    first_line = l_no == 1
    l_cat = np.where(first_line, rng.choice(3, m, p=[0.7, 0.18, 0.12]), rng.choice(3, m, p=[0.45, 0.05, 0.5]))
    oday = o_time[l_order] // f.DAY
    # tickets: the first performance on or after the day the buyer aims for
    aim = oday + np.minimum(rng.geometric(1 / 21, m) - 1, 150)
    perf = cat.next_performance(aim)
    perf = np.where(cat.perf_day[perf] < oday, len(cat.perf_day) - 1, perf)
    ws = rng.choice(len(cat.workshop_names), m, p=_weights(len(cat.workshop_names)))
    merch = rng.choice(len(cat.merch_names), m, p=_weights(len(cat.merch_names)))
    l_prod = np.where(l_cat == TICKET, perf, np.where(l_cat == WORKSHOP, ws, merch))
    l_eday = np.where(
        l_cat == TICKET, cat.perf_day[perf], np.where(l_cat == WORKSHOP, oday + rng.integers(7, 60, m), -1)
    )
    l_qty = np.where(
        l_cat == TICKET,
        rng.choice([1, 2, 3, 4, 6], m, p=[0.3, 0.5, 0.08, 0.1, 0.02]),
        np.where(l_cat == WORKSHOP, np.where(rng.random(m) < 0.9, 1, 2), rng.choice([1, 2, 3], m, p=[0.8, 0.15, 0.05])),
    )
    l_price = np.where(
        l_cat == TICKET,
        cat.show_price[cat.perf_show[perf]],
        np.where(l_cat == WORKSHOP, cat.workshop_price[ws], cat.merch_price[merch]),
    )
    # a young person's ticket is cheaper (CJP discount)
    young = p.young[o_person[l_order]] & (l_cat == TICKET)
    l_price = np.where(young, (l_price * 0.8).astype(np.int64) // 50 * 50, l_price)
    return OrderBook(o_person, o_guest, o_time, o_status, l_order, l_no, l_cat, l_prod, l_eday, l_qty, l_price)


LAPSING_ORDERS = (6, 9)  # a lapsing regular's orders, one a visit
LAPSING_INTERVAL_DAYS = (28, 42)  # their usual time between visits
LAPSING_MISSED_VISITS = (3.0, 4.0)  # the days since their last order, in usual intervals


def _lapsing_days(rng: np.random.Generator, counts: np.ndarray, end: int) -> np.ndarray:
    """Order days of lapsing regulars (people.py): a visit every month or so, then none for 3-4 of their usual
    intervals. Each order on a day of its own, so counting orders or purchase days gives the same history."""
    k = len(counts)
    interval = rng.uniform(*LAPSING_INTERVAL_DAYS, k)
    last = end - (interval * rng.uniform(*LAPSING_MISSED_VISITS, k)).astype(np.int64)
    visit = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)  # 0 = first order
    back = np.repeat(counts, counts) - 1 - visit  # visits before the last one
    jitter = np.where(back > 0, rng.integers(-5, 6, len(visit)), 0)
    return np.repeat(last, counts) - (back * np.repeat(interval, counts)).astype(np.int64) + jitter


def _weights(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** 0.6
    return w / w.sum()


def build(
    rng: np.random.Generator, book: OrderBook, p: People, cust_no: np.ndarray, cat: Catalogue, clock: Clock
) -> SourceResult:
    end_s = clock.end * f.DAY
    n = len(book.o_person)
    order_rank = np.empty(n, np.int64)
    order_rank[np.lexsort((np.arange(n), book.o_time))] = np.arange(n)
    nlines = np.bincount(book.l_order, minlength=n)
    # refunds: one negative line per line of a refunded order, some days later
    refunded = np.flatnonzero(book.o_status[book.l_order] == 2)
    refund_at = np.minimum(book.o_time + rng.integers(1, 21, n) * f.DAY + rng.integers(0, 36_000, n), end_s - 60)
    refund_at = np.maximum(refund_at, book.o_time + 60)
    src = np.concatenate([np.arange(len(book.l_order)), refunded])
    is_refund = np.concatenate([np.zeros(len(book.l_order), bool), np.ones(len(refunded), bool)])
    order = book.l_order[src]
    line_no = np.where(is_refund, nlines[order] + book.l_no[src], book.l_no[src])
    sort = np.lexsort((line_no, order_rank[order]))
    src, is_refund, order, line_no = src[sort], is_refund[sort], order[sort], line_no[sort]
    m = len(src)

    cat_ = book.l_cat[src]
    prod = book.l_prod[src]
    qty = np.where(is_refund, -book.l_qty[src], book.l_qty[src])
    price = book.l_price[src]
    amount = qty * price
    status = np.where(is_refund, 2, np.where(book.o_status[order] == 1, 1, 0))
    updated = np.where(
        is_refund,
        refund_at[order],
        np.where(
            status == 1,
            np.minimum(book.o_time[order] + rng.integers(3600, 30 * f.DAY, m), end_s - 60),
            book.o_time[order] + rng.integers(30, 600, m),
        ),
    )
    updated = np.minimum(np.maximum(updated, book.o_time[order]), end_s - 1)
    eday = book.l_eday[src]

    # one product table for all categories: tickets (per performance), workshops, merchandise
    n_perf, n_ws = len(cat.perf_day), len(cat.workshop_slugs)
    perf_iso = f.dates(cat.perf_day).to_pylist()
    product_ids = (
        [f"TH-{d}-{cat.show_slugs[s]}" for d, s in zip(perf_iso, cat.perf_show.tolist(), strict=True)]
        + [f"WS-{s}" for s in cat.workshop_slugs]
        + [f"MD-{s}" for s in cat.merch_slugs]
    )
    product_names = [cat.show_names[s] for s in cat.perf_show.tolist()]
    product_names += list(cat.workshop_names) + list(cat.merch_names)
    product_id_table = quote_where_needed(pa.array(product_ids, pa.string()), ";")
    product_name_table = quote_where_needed(pa.array(product_names, pa.string()), ";")
    product = np.where(cat_ == TICKET, prod, np.where(cat_ == WORKSHOP, n_perf + prod, n_perf + n_ws + prod))

    person = book.o_person[order]
    guest = book.o_guest[order]
    cno = np.where(guest, 0, cust_no[person])
    guest_rows = np.flatnonzero(guest)
    guest_email = typed_email(rng, pc.take(p.email, pa.array(person[guest_rows])), p_case=0.15, p_space=0.08)
    guest_email_quoted = quote_where_needed(guest_email, ";")
    guest_pos = np.cumsum(guest) - 1
    order_no = order_rank[order] + 1
    o_time = book.o_time[order]

    # defects only on completed ticket and merchandise lines: workshop lines feed the abandonment checks
    plant = Planter(rng, m, rate=0.0015)
    fix = Overrides()
    ok = (status == 0) & (cat_ != WORKSHOP)
    rows = plant.pick("negative_amount", ok)
    fix.set("line_amount", rows, f.fixed_point(-amount[rows], 2, ","))
    rows = plant.pick("non_numeric_amount", ok)
    half = len(rows) // 2
    fix.set("line_amount", rows[:half], plant.values(BAD_AMOUNTS, half))
    fix.set("unit_price", rows[half:], plant.values(BAD_AMOUNTS, len(rows) - half))
    rows = plant.pick("unparseable_date", ok & (cat_ == TICKET))
    half = len(rows) // 2
    fix.set("event_date", rows[:half], plant.values(BAD_DATES, half))
    fix.set("order_at", rows[half:], plant.values(BAD_TIMESTAMPS, len(rows) - half))
    rows = plant.pick("missing_required", ok)
    fix.set("product_id", rows, [None] * len(rows))

    def text(a: int, b: int) -> dict[str, pa.Array]:
        """The text of lines [a, b): built chunk by chunk while writing (no randomness here)."""
        g = guest[a:b]
        cols = {
            "order_id": f.padded_ids("O", order_no[a:b], 8),
            "line_no": f.integers(line_no[a:b]),
            "customer_id": f.fixed_width(f.padded_id_rows("C", np.maximum(cno[a:b], 0), 7), g),
            "email": f.pick(guest_email_quoted, np.maximum(guest_pos[a:b], 0), ~g),
            "order_at": f.timestamps(o_time[a:b], "nl"),
            "product_id": pc.take(product_id_table, pa.array(product[a:b])),
            "product_name": pc.take(product_name_table, pa.array(product[a:b])),
            "category": f.pick(CATEGORIES, cat_[a:b]),
            "event_date": f.dates(eday[a:b], "nl", missing=eday[a:b] < 0),
            "quantity": f.integers(qty[a:b]),
            "unit_price": f.fixed_point(price[a:b], 2, ","),
            "line_amount": f.fixed_point(amount[a:b], 2, ","),
            "currency": f.pick(("EUR",), np.zeros(b - a, np.int64)),
            "status": f.pick(STATUSES, status[a:b]),
            "updated_at": f.timestamps(updated[a:b], "nl"),
        }
        return fix.apply(cols, a, b)

    first_of_order = np.flatnonzero(np.r_[True, order[1:] != order[:-1]])
    return SourceResult(
        columns={},
        text=text,
        n_rows=m,
        record_ids=f.padded_ids("O", order_no[first_of_order], 8),
        record_person=person[first_of_order] + 1,
        defects=plant.counts,
        variants={
            "refund_line": int(is_refund.sum()),
            "guest_order_line": int(guest.sum()),
            "cancelled_line": int((status == 1).sum()),
        },
        free_text=(),
        email_rows=(guest_email, np.ones(len(guest_email), np.int64)),
    )
