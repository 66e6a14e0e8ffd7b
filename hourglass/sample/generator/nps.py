"""nps_responses: Net Promoter Score answers; free-text comments may hold line breaks, `;`, `,` and quotes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import fields as f
from .clock import Clock
from .crm import customer_ids
from .defects import BAD_SCORES, Planter, SourceResult
from .people import People, pick_persons, typed_email

TOUCHPOINTS = ("performance", "workshop", "magazine", "website", "service")
COMMENTS = {
    "low": (
        "Te lang moeten wachten bij de kassa.",
        "De zaal was veel te warm; niet fijn.",
        "Website liep vast bij het afrekenen, heel frustrerend",
        "Workshop was rommelig, docent kwam te laat",
        'Het "gratis" drankje bleek niet gratis.',
        "Parkeren is een drama, zeker op zaterdag",
        "The English subtitles were missing, what a shame.",
        "Magazine kwam twee keer te laat",
    ),
    "mid": (
        "Prima avond, maar de stoelen zitten niet lekker.",
        "Leuk, wel prijzig.",
        "Goed, maar de pauze was kort",
        "Aardige workshop; volgende keer graag meer tijd om te draaien",
        "Oké. Niets bijzonders.",
        "Nice evening, a bit expensive",
        "Mooie voorstelling, matige akoestiek op het balkon",
    ),
    "high": (
        "Fantastische voorstelling!",
        "Wat een geweldige docent, ik kom zeker terug.",
        "Prachtig magazine, elke maand een feestje",
        "Top georganiseerd, vriendelijk personeel.",
        'Zoë was geweldig als "Medea"; kippenvel!',
        "Heerlijke avond uit met mijn partner, dank jullie wel",
        "Super workshop keramiek; mijn eerste kom is gelukt :)",
        "Wunderbar, wir kommen wieder!",
        "Très belle soirée, merci",
    ),
}
SECOND_LINES = (
    "Groet, Els",
    "PS: de koffie was koud.",
    "Tweede punt: de garderobe was onderbezet.",
    "Verder: prima.\nNogmaals dank!",
    "Met vriendelijke groet,\nJosé",
)


def build(rng: np.random.Generator, p: People, cust_no: np.ndarray, clock: Clock) -> SourceResult:
    n = int(round(0.06 * p.n))
    persons = pick_persons(rng, p, n, crm_share=0.9)
    at = clock.seasonal_days(rng, n) * f.DAY + Clock.times_of_day(rng, n)
    order = np.lexsort((persons, at))
    persons, at = persons[order], at[order]
    score = rng.choice(11, n, p=np.array([2, 1, 1, 2, 2, 4, 6, 12, 22, 24, 24]) / 100)
    band = np.where(score <= 6, 0, np.where(score <= 8, 1, 2))
    texts = [COMMENTS["low"], COMMENTS["mid"], COMMENTS["high"]]
    flat = [t for ts in texts for t in ts]
    offset = np.cumsum([0] + [len(t) for t in texts])[:3]
    which = offset[band] + (rng.random(n) * np.array([len(t) for t in texts])[band]).astype(np.int64)
    has_comment = rng.random(n) < 0.45
    multiline = has_comment & (rng.random(n) < 0.06)
    if n >= 10 and multiline.sum() < 2:  # small runs still get a few, so checks have something to find
        multiline[rng.choice(np.flatnonzero(has_comment), min(2, int(has_comment.sum())), replace=False)] = True
    comment = f.pick(flat, which, ~has_comment)
    second = f.pick(SECOND_LINES, rng.integers(0, len(SECOND_LINES), n))
    comment = pc.if_else(pa.array(multiline), f.concat(comment, second, sep="\n"), comment)
    known = np.where(p.has_crm[persons], rng.random(n) < 0.85, False)
    email = typed_email(rng, pc.take(p.email, pa.array(persons)), p_case=0.15, p_space=0.08)
    email = pc.if_else(pa.array(known & (rng.random(n) < 0.4)), pa.nulls(n, pa.string()), email)
    cols = {
        "response_id": f.padded_ids("R", np.arange(1, n + 1), 7),
        "customer_id": pc.if_else(
            pa.array(known), customer_ids(np.maximum(cust_no[persons], 0)), pa.nulls(n, pa.string())
        ),
        "email": email,
        "score": f.integers(score),
        "comment": comment,
        "touchpoint": f.pick(TOUCHPOINTS, rng.choice(5, n, p=[0.45, 0.2, 0.12, 0.13, 0.1])),
        "responded_at": f.timestamps(at),
    }
    plant = Planter(rng, n, rate=0.003)
    rows = plant.pick("out_of_range_score", ~multiline)
    cols["score"] = f.replace_at(cols["score"], rows, plant.values(BAD_SCORES, len(rows)))
    rows = plant.pick("missing_required", ~multiline)
    cols["touchpoint"] = f.replace_at(cols["touchpoint"], rows, [None] * len(rows))
    return SourceResult(
        columns=cols,
        record_ids=cols["response_id"],
        record_person=persons + 1,
        defects=plant.counts,
        variants={"multiline_comment": int(multiline.sum())},
        free_text=("email", "comment"),
    )
