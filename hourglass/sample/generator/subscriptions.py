"""subscriptions: magazine (print, digital) and season-ticket subscriptions of CRM customers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .clock import Clock
from .crm import customer_ids
from .defects import BAD_DATES, Planter, SourceResult
from .people import People

PRODUCTS = ("magazine_print", "magazine_digital", "season_ticket")
STATUSES = ("active", "paused", "cancelled", "expired")


def build(rng: np.random.Generator, p: People, cust_no: np.ndarray, clock: Clock) -> SourceResult:
    subs = np.flatnonzero(p.subscriber)
    persons = np.sort(np.concatenate([subs, subs[rng.random(len(subs)) < 0.15]]))
    n = len(persons)
    end = clock.end
    product = rng.choice(3, n, p=[0.5, 0.35, 0.15])
    second = np.flatnonzero(np.r_[False, persons[1:] == persons[:-1]])
    # a lapsing regular's first subscription is a magazine that still comes (people.py)
    kept = p.lapsing[persons]
    kept[second] = False
    product[kept] = np.where(product[kept] == 2, 0, product[kept])
    product[second] = (product[second - 1] + rng.integers(1, 3, len(second))) % 3  # a second, different product
    created_day = p.crm_created[persons] // f.DAY
    lo = np.maximum(created_day, end - 8 * 365)
    start = lo + (rng.random(n) * (end - lo)).astype(np.int64)
    # season tickets start on 1 September
    d64 = start.astype("datetime64[D]")
    year = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    month = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    season_year = np.where(month >= 9, year, year - 1)
    sep1 = np.array([f"{y}-09-01" for y in range(1990, 2100)], dtype="datetime64[D]").astype(np.int64)
    season_start = sep1[season_year - 1990]
    season_end = season_start + 302  # 30 June
    start = np.where(product == 2, season_start, start)
    status = rng.choice(4, n, p=[0.65, 0.05, 0.2, 0.1])
    length = rng.integers(60, 1500, n)
    stop = np.minimum(start + length, end - 1)
    status = np.where((product == 2) & (season_end < end), 3, np.where(product == 2, 0, status))
    status = np.where((status == 3) & (product != 2) & (stop >= end - 1), 0, status)
    status[kept] = 0
    end_date = np.where(product == 2, season_end, np.where(status >= 2, stop, -1))
    end_date = np.where(status >= 2, np.maximum(end_date, start + 1), end_date)
    price = np.where(product == 0, 59_50, np.where(product == 1, 34_95, rng.integers(129, 250, n) * 100))
    last_change = np.where(
        status >= 2, np.minimum(end_date, end - 1), start + (rng.random(n) * (end - start)).astype(np.int64)
    )
    updated = np.minimum(last_change * f.DAY + rng.integers(8 * 3600, 18 * 3600, n), end * f.DAY - 1)
    start_s = start * f.DAY
    updated = np.maximum(updated, start_s)

    cols = {
        "subscription_id": f.padded_ids("S", np.arange(1, n + 1), 7),
        "customer_id": customer_ids(cust_no[persons]),
        "product": f.pick(PRODUCTS, product),
        "start_date": f.dates(start),
        "end_date": f.dates(end_date, missing=end_date < 0),
        "status": f.pick(STATUSES, status),
        "price_eur": f.fixed_point(price, 2, missing=rng.random(n) < 0.02),
        "updated_at": f.timestamps(updated),
    }
    # older versions: a cancelled or expired subscription that was still active at an earlier export
    old = np.flatnonzero((status >= 2) & (updated - start_s > 2 * f.DAY) & (rng.random(n) < 0.1))
    old_cols = {k: pc.take(v, pa.array(old)) for k, v in cols.items()}
    old_cols["status"] = f.pick(STATUSES, np.zeros(len(old), np.int64))
    old_cols["end_date"] = pa.nulls(len(old), pa.string())
    old_cols["updated_at"] = f.timestamps(
        start_s[old] + (rng.random(len(old)) * (updated[old] - start_s[old] - f.DAY)).astype(np.int64)
    )
    position = np.concatenate([np.arange(n) * 2 + 1, old * 2])
    order = np.argsort(position, kind="stable")
    out = {k: pc.take(pa.concat_arrays([cols[k], old_cols[k]]), pa.array(order)) for k in cols}
    is_old = np.concatenate([np.zeros(n, bool), np.ones(len(old), bool)])[order]
    row_sub = np.concatenate([np.arange(n), old])[order]
    fresh = ~is_old & ~np.isin(row_sub, old) & ~kept[row_sub]  # a lapsing regular's magazine stays readable

    plant = Planter(rng, len(order), rate=0.003)
    rows = plant.pick("missing_required", fresh)
    out["status"] = f.replace_at(out["status"], rows, [None] * len(rows))
    rows = plant.pick("unparseable_date", fresh)
    out["start_date"] = f.replace_at(out["start_date"], rows, plant.values(BAD_DATES, len(rows)))
    return SourceResult(
        columns=out,
        record_ids=cols["subscription_id"],
        record_person=persons + 1,
        defects=plant.counts,
        variants={"older_version": int(len(old))},
        free_text=(),
        facts={"lapsing_regulars_with_active_magazine": int(kept.sum())},
    )
