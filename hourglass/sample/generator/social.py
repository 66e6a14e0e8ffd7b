"""social_mentions: posts about the organisation from the listening tool; texts may span lines."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .catalogue import Catalogue
from .clock import Clock
from .crm import customer_ids
from .defects import BAD_TIMESTAMPS, Planter, SourceResult
from .names import ascii_slug
from .people import People

PLATFORMS = ("instagram", "facebook", "x", "tiktok", "linkedin")
SENTIMENTS = ("positive", "neutral", "negative")
FANS = (
    "theaterliefhebber",
    "cultuurmeisje",
    "kunstenaar_utrecht",
    "fotografiefan",
    "podiumkunsten_nl",
    "keramiekjuf",
    "uitinamsterdam",
    "de_recensent",
    "expatlife_nl",
    "stadsblogger",
)
TEMPLATES = {
    0: (
        ("Wat een avond bij ", "! 🎭 #theater"),
        ("Net terug van ", ", echt een aanrader."),
        ("Loved ", " tonight, what a show 👏"),
        ("Mijn eerste workshop: ", " - zo leuk!"),
    ),
    1: (("Iemand nog kaarten over voor ", "?"), ("Vanavond ", ", ben benieuwd"), ("Programma ", " staat online")),
    2: (
        ("Teleurgesteld in ", ", zonde van het geld."),
        ("Zaal te warm bij ", ', "klimaatbeheersing" ho maar'),
        ("Geannuleerd: ", ". En nu? Geen bericht gehad 😡"),
    ),
}


def build(rng: np.random.Generator, p: People, cust_no: np.ndarray, cat: Catalogue, clock: Clock) -> SourceResult:
    n = max(20, int(round(0.03 * p.n)))
    from_person = rng.random(n) < 0.4
    persons = np.where(from_person, rng.integers(0, p.n, n), -1)
    at = clock.seasonal_days(rng, n) * f.DAY + Clock.times_of_day(rng, n)
    order = np.lexsort((np.arange(n), at))
    persons, at, from_person = persons[order], at[order], from_person[order]
    sentiment = rng.choice(3, n, p=[0.55, 0.3, 0.15])
    pool = [(s, t) for s in range(3) for t in TEMPLATES[s]]
    offset = {0: 0, 1: len(TEMPLATES[0]), 2: len(TEMPLATES[0]) + len(TEMPLATES[1])}
    sizes = np.array([len(TEMPLATES[s]) for s in range(3)])
    which = np.array([offset[0], offset[1], offset[2]])[sentiment] + (rng.random(n) * sizes[sentiment]).astype(np.int64)
    subjects = list(cat.show_names) + list(cat.workshop_names)
    subject = f.pick(subjects, rng.integers(0, len(subjects), n))
    text = f.concat(f.pick([t[0] for _, t in pool], which), subject, f.pick([t[1] for _, t in pool], which))
    multiline = rng.random(n) < 0.07
    if multiline.sum() < 2:
        multiline[rng.choice(n, 2, replace=False)] = True
    text = pc.if_else(pa.array(multiline), f.concat(text, "#dezandloper #cultuur", sep="\n\n"), text)
    safe = np.maximum(persons, 0)
    own = f.concat(
        "@", pc.take(_slugs(p.first_name), pa.array(safe)), "_", pc.take(_slugs(p.last_name), pa.array(safe))
    )
    fan = f.concat(
        "@", f.pick(FANS, rng.integers(0, len(FANS), n)), pa.array(rng.integers(1, 999, n)).cast(pa.string())
    )
    handle = pc.if_else(pa.array(from_person), own, fan)
    known = from_person & p.has_crm[safe] & (rng.random(n) < 0.25)
    cols = {
        "mention_id": f.padded_ids("M", np.arange(1, n + 1), 7),
        "platform": f.pick(PLATFORMS, rng.choice(5, n, p=[0.45, 0.25, 0.12, 0.13, 0.05])),
        "handle": handle,
        "text": text,
        "sentiment": f.pick(SENTIMENTS, sentiment, rng.random(n) < 0.05),
        "customer_id": pc.if_else(
            pa.array(known), customer_ids(np.maximum(cust_no[safe], 0)), pa.nulls(n, pa.string())
        ),
        "posted_at": f.timestamps(at),
    }
    plant = Planter(rng, n, rate=0.004)
    rows = plant.pick("missing_required", ~multiline)
    cols["handle"] = f.replace_at(cols["handle"], rows, [None] * len(rows))
    rows = plant.pick("unparseable_date", ~multiline)
    cols["posted_at"] = f.replace_at(cols["posted_at"], rows, plant.values(BAD_TIMESTAMPS, len(rows)))
    record_person = np.where(persons >= 0, persons + 1, 0)
    cols, record_person = _recent_complaints(rng, p, cust_no, clock, cols, record_person)
    return SourceResult(
        columns=cols,
        record_ids=cols["mention_id"],
        record_person=record_person,
        defects=plant.counts,
        variants={"multiline_text": int(multiline.sum())},
        free_text=("handle", "text"),
    )


def _recent_complaints(
    rng: np.random.Generator, p: People, cust_no: np.ndarray, clock: Clock, cols: dict, record_person: np.ndarray
) -> tuple[dict, np.ndarray]:
    """A few negative mentions by known customers in the week before as_of, after the others: the service follow-up
    (models/audiences/service_follow_up.sql) has people to hand over on the demo."""
    known = np.flatnonzero(p.has_crm & (cust_no >= 0))
    k = min(len(known), max(3, int(round(0.002 * p.n))))
    if k == 0:
        return cols, record_person
    persons = np.sort(rng.choice(known, k, replace=False))
    at = np.sort(rng.integers(clock.end - 7, clock.end, k)) * f.DAY + Clock.times_of_day(rng, k)
    n = len(cols["mention_id"])
    which = rng.integers(0, len(TEMPLATES[2]), k)
    text = f.concat(
        f.pick([t[0] for t in TEMPLATES[2]], which), "de voorstelling", f.pick([t[1] for t in TEMPLATES[2]], which)
    )
    extra = {
        "mention_id": f.padded_ids("M", np.arange(n + 1, n + k + 1), 7),
        "platform": f.pick(PLATFORMS, rng.integers(0, len(PLATFORMS), k)),
        "handle": f.concat("@", pc.take(_slugs(p.first_name), pa.array(persons)), "_klant"),
        "text": text,
        "sentiment": f.pick(SENTIMENTS, np.full(k, 2)),
        "customer_id": customer_ids(cust_no[persons]),
        "posted_at": f.timestamps(at),
    }
    joined = {name: pa.concat_arrays([cols[name], extra[name].cast(cols[name].type)]) for name in cols}
    return joined, np.concatenate([record_person, persons + 1])


def _slugs(names: pa.Array) -> pa.Array:
    """ASCII slugs per name, computed once per distinct name."""
    enc = names.dictionary_encode()
    return pc.take(pa.array([ascii_slug(s) for s in enc.dictionary.to_pylist()], pa.string()), enc.indices)
