"""service_tickets: questions and complaints from the service desk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .clock import Clock
from .crm import customer_ids
from .defects import BAD_TIMESTAMPS, Planter, SourceResult
from .people import People, pick_persons, typed_email

CHANNELS = ("email", "phone", "chat", "counter")
CATEGORIES = ("tickets", "workshops", "magazine", "billing", "accessibility", "other")


def build(rng: np.random.Generator, p: People, cust_no: np.ndarray, clock: Clock) -> SourceResult:
    n = int(round(0.1 * p.n))
    persons = pick_persons(rng, p, n, crm_share=0.8)
    opened = clock.seasonal_days(rng, n) * f.DAY + Clock.times_of_day(rng, n, "office")
    order = np.lexsort((persons, opened))
    persons, opened = persons[order], opened[order]
    end_s = clock.end * f.DAY
    channel = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    category = rng.choice(6, n, p=[0.38, 0.18, 0.14, 0.14, 0.06, 0.10])
    complaint = rng.random(n) < 0.18
    is_open = ((end_s - opened < 14 * f.DAY) & (rng.random(n) < 0.6)) | (rng.random(n) < 0.01)
    hours = np.minimum(rng.lognormal(2.6, 1.1, n), (end_s - opened) / 3600).astype(float)
    rated = ~is_open & (rng.random(n) < 0.55)
    sat = np.clip(
        np.where(
            complaint,
            rng.choice(5, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
            rng.choice(5, n, p=[0.04, 0.06, 0.15, 0.35, 0.4]),
        )
        + 1,
        1,
        5,
    )
    known = np.where(p.has_crm[persons], rng.random(n) < 0.7, False)
    email = typed_email(rng, pc.take(p.email, pa.array(persons)), p_case=0.15, p_space=0.08)
    no_email = known & np.isin(channel, (1, 3)) & (rng.random(n) < 0.6)
    cols = {
        "ticket_id": f.padded_ids("T", np.arange(1, n + 1), 7),
        "customer_id": pc.if_else(
            pa.array(known), customer_ids(np.maximum(cust_no[persons], 0)), pa.nulls(n, pa.string())
        ),
        "email": pc.if_else(pa.array(no_email), pa.nulls(n, pa.string()), email),
        "opened_at": f.timestamps(opened),
        "channel": f.pick(CHANNELS, channel),
        "category": f.pick(CATEGORIES, category),
        "is_complaint": f.booleans(complaint),
        "satisfaction": f.integers(sat, ~rated),
        "resolution_hours": f.fixed_point((hours * 10).astype(np.int64), 1, missing=is_open),
        "status": f.pick(("resolved", "open"), is_open.astype(np.int64)),
    }
    plant = Planter(rng, n, rate=0.003)
    rows = plant.pick("missing_required")
    cols["channel"] = f.replace_at(cols["channel"], rows, [None] * len(rows))
    rows = plant.pick("unparseable_date")
    cols["opened_at"] = f.replace_at(cols["opened_at"], rows, plant.values(BAD_TIMESTAMPS, len(rows)))
    return SourceResult(columns=cols, record_ids=cols["ticket_id"], record_person=persons + 1, defects=plant.counts)
