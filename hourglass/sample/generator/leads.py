"""leads: prospects from web forms, events, newsletter sign-ups and competitions (no CRM id yet)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hourglass.sources import LEAD_CONSENT_PURPOSES

from . import fields as f
from .clock import Clock
from .defects import BAD_TIMESTAMPS, INVALID_EMAILS, Planter, SourceResult
from .people import People, typed_email, typed_phone

SOURCES = ("web_form", "event", "newsletter_signup", "competition")
EVENTS = (
    "Open dag keramiek",
    "Uitmarkt",
    "Museumnacht",
    "Open Podium",
    "Seizoenspresentatie",
    "Fotografie-expo",
    "Kunstroute",
    "Kerstmarkt",
)
INTERESTS = ("theatre", "workshop", "magazine")


def build(rng: np.random.Generator, p: People, clock: Clock) -> SourceResult:
    first = np.flatnonzero(p.in_leads)
    again = first[rng.random(len(first)) < 0.1]
    persons = np.concatenate([first, again])
    created = np.concatenate([p.lead_created[first], p.lead_created[again] + rng.integers(10, 300, len(again)) * f.DAY])
    end_s = clock.end * f.DAY
    created = np.minimum(created, end_s - 1 - rng.integers(0, 3600 * 8, len(created)))
    order = np.lexsort((persons, created))
    persons, created = persons[order], created[order]
    n = len(persons)
    take = pa.array(persons)
    source = rng.choice(len(SOURCES), n, p=[0.45, 0.25, 0.2, 0.1])
    event = np.where(source == 1, rng.integers(0, len(EVENTS), n), -1)
    consent = rng.choice(3, n, p=[0.6, 0.1, 0.3])  # true, false, never asked
    email = typed_email(rng, pc.take(p.email, take), p_case=0.2, p_space=0.1)
    email = pc.if_else(pa.array((rng.random(n) < 0.03) & (source == 1)), pa.nulls(n, pa.string()), email)
    phone = typed_phone(rng, pc.take(p.phone_nsn, take), p.phone_mobile[persons], p.country[persons], national=False)
    cols = {
        "lead_id": f.padded_ids("L", np.arange(1, n + 1), 7),
        "email": email,
        "first_name": pc.if_else(pa.array(rng.random(n) < 0.1), pa.nulls(n, pa.string()), pc.take(p.first_name, take)),
        "last_name": pc.if_else(pa.array(rng.random(n) < 0.15), pa.nulls(n, pa.string()), pc.take(p.last_name, take)),
        "phone": pc.if_else(pa.array(rng.random(n) < 0.55), pa.nulls(n, pa.string()), phone),
        "source": f.pick(SOURCES, source),
        "event_name": f.pick(EVENTS, np.maximum(event, 0), event < 0),
        "interest": f.pick(INTERESTS, rng.choice(3, n, p=[0.45, 0.35, 0.2]), rng.random(n) < 0.1),
        "created_at": f.timestamps(created),
    }
    for purpose in LEAD_CONSENT_PURPOSES:  # the form asks for each at once
        cols[f"consent_{purpose}"] = f.booleans(consent == 0, consent == 2)
        cols[f"consent_{purpose}_at"] = f.timestamps(created, missing=consent == 2)
    plant = Planter(rng, n, rate=0.002)
    rows = plant.pick("invalid_email", pc.is_valid(email).to_numpy(zero_copy_only=False))
    cols["email"] = f.replace_at(cols["email"], rows, plant.values(INVALID_EMAILS + ("jan.devries@",), len(rows)))
    rows = plant.pick("missing_required")
    cols["created_at"] = f.replace_at(cols["created_at"], rows, [None] * len(rows))
    rows = plant.pick("unparseable_date")
    cols["created_at"] = f.replace_at(cols["created_at"], rows, plant.values(BAD_TIMESTAMPS, len(rows)))
    return SourceResult(
        columns=cols,
        record_ids=cols["lead_id"],
        record_person=persons + 1,
        defects=plant.counts,
        variants={"lead_of_crm_customer": int(p.has_crm[persons].sum())},
        free_text=("email", "first_name", "last_name", "event_name"),
    )
