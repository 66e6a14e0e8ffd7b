"""crm_customers: one row per CRM customer, plus older versions of customers updated since the last export."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hourglass.sources import CONSENT_PURPOSES

from . import fields as f
from .defects import BAD_DATES, INVALID_EMAILS, Planter, SourceResult
from .people import COUNTRIES, LANGUAGES, People, typed_email, typed_phone
from .postcodes import scheme

# (true, false) probability per purpose; the rest were never asked. The purposes themselves are the dbt var
# consent_purposes (sources.CONSENT_PURPOSES): one added there gets OTHER_CONSENT_ODDS until it has its own here.
CONSENT_ODDS = {"email_marketing": (0.38, 0.14), "sms_marketing": (0.08, 0.07), "ads_personalisation": (0.22, 0.18)}
OTHER_CONSENT_ODDS = (0.2, 0.1)
# Newsletter and magazine or season-ticket sign-ups ask for marketing e-mail too, and most say yes there.
ENGAGED_EMAIL_MARKETING_ODDS = (0.75, 0.06)


def customer_numbers(p: People) -> np.ndarray:
    """Customer number per person (CRM ids follow creation order), -1 without a CRM record."""
    crm = np.flatnonzero(p.has_crm)
    order = crm[np.argsort(p.crm_created[crm], kind="stable")]
    no = np.full(p.n, -1, np.int64)
    no[order] = np.arange(1, len(order) + 1)
    return no


def customer_ids(numbers: np.ndarray) -> pa.Array:
    return f.padded_ids("C", numbers, 7)


def build(rng: np.random.Generator, p: People, cust_no: np.ndarray) -> SourceResult:
    sch = scheme()
    persons = np.argsort(np.where(cust_no < 0, np.iinfo(np.int64).max, cust_no), kind="stable")[
        : int((cust_no > 0).sum())
    ]
    n = len(persons)
    take = pa.array(persons)
    created = p.crm_created[persons]
    end_s = p.as_of_end * f.DAY
    updated = created + (rng.random(n) * (end_s - created - 60)).astype(np.int64) + 60
    shared = p.shared_group[persons] >= 0

    canonical = pc.take(p.email, take)
    email = typed_email(rng, canonical)
    email = pc.if_else(pa.array((rng.random(n) < 0.05) & ~shared), pa.nulls(n, pa.string()), email)
    nl = p.country[persons] == 0
    pidx = p.postcode_idx[persons]
    pc4 = pa.array(sch.postcode4[pidx]).cast(pa.string())
    letters = pc.take(p.postcode_letters, take)
    r = rng.random(n)
    postcode = pc.if_else(
        pa.array(r < 0.08),
        f.concat(pc4, letters),
        pc.if_else(pa.array(r < 0.10), f.concat(pc4, pc.utf8_lower(letters)), f.concat(pc4, letters, sep=" ")),
    )
    postcode = pc.if_else(pa.array(~nl | (rng.random(n) < 0.03)), pa.nulls(n, pa.string()), postcode)
    city = f.pick(sch.city, pidx)
    city = pc.if_else(pa.array(rng.random(n) < 0.03), pc.utf8_upper(city), city)
    city = pc.if_else(pa.array(nl), city, pc.take(p.foreign_city, take))
    partner = p.partner[persons]
    children = p.children[persons]

    cols: dict[str, pa.Array] = {
        "customer_id": customer_ids(cust_no[persons]),
        "first_name": pc.if_else(pa.array(rng.random(n) < 0.02), pa.nulls(n, pa.string()), pc.take(p.first_name, take)),
        "last_name": pc.take(p.last_name, take),
        "email": email,
        "phone": typed_phone(rng, pc.take(p.phone_nsn, take), p.phone_mobile[persons], p.country[persons]),
        "birth_date": f.dates(p.birth_day[persons], missing=rng.random(n) < 0.25),
        "postcode": postcode,
        "city": city,
        "country": f.pick(COUNTRIES, p.country[persons]),
        "household_partner": f.booleans(np.maximum(partner, 0), partner < 0),
        "household_children": f.integers(children, children < 0),
        "language": f.pick(LANGUAGES, p.language[persons]),
        "created_at": f.timestamps(created),
        "updated_at": f.timestamps(updated),
    }
    consent_at: dict[str, np.ndarray] = {}
    consent_value: dict[str, np.ndarray] = {}
    for purpose in CONSENT_PURPOSES:
        if purpose == "email_newsletter":
            sub = p.in_esp[persons]
            yes, no = np.where(sub, 0.92, 0.03), np.where(sub, 0.0, 0.12)
        elif purpose == "email_marketing":
            engaged = p.in_esp[persons] | p.subscriber[persons]
            yes = np.where(engaged, ENGAGED_EMAIL_MARKETING_ODDS[0], CONSENT_ODDS[purpose][0])
            no = np.where(engaged, ENGAGED_EMAIL_MARKETING_ODDS[1], CONSENT_ODDS[purpose][1])
        else:
            yes, no = CONSENT_ODDS.get(purpose, OTHER_CONSENT_ODDS)
        u = rng.random(n)
        value = np.where(u < yes, 1, np.where(u < yes + no, 0, -1))
        at = created + (rng.random(n) * (updated - created)).astype(np.int64)
        consent_at[purpose] = np.where(value >= 0, at, -1)
        consent_value[purpose] = value
        cols[f"consent_{purpose}"] = f.booleans(np.maximum(value, 0), value < 0)
        cols[f"consent_{purpose}_at"] = f.timestamps(at, missing=value < 0)

    # older versions: the same customer before the latest update (consents given since then not there yet)
    has_old = (rng.random(n) < 0.03) & (updated - created > 3600)
    old_rows = np.flatnonzero(has_old)
    old_updated = created[old_rows] + (rng.random(len(old_rows)) * (updated[old_rows] - created[old_rows] - 60)).astype(
        np.int64
    )
    old_cols = {k: pc.take(v, pa.array(old_rows)) for k, v in cols.items()}
    old_cols["updated_at"] = f.timestamps(old_updated)
    old_persons = persons[old_rows]
    old_cols["phone"] = typed_phone(
        rng, pc.take(p.phone_nsn, pa.array(old_persons)), p.phone_mobile[old_persons], p.country[old_persons]
    )
    for purpose in CONSENT_PURPOSES:
        later = consent_at[purpose][old_rows] > old_updated
        for col in (f"consent_{purpose}", f"consent_{purpose}_at"):
            old_cols[col] = pc.if_else(pa.array(later), pa.nulls(len(old_rows), pa.string()), old_cols[col])
    # export order: by customer, the older version first
    position = np.concatenate([np.arange(n) * 2 + 1, old_rows * 2])
    order = np.argsort(position, kind="stable")
    out = {k: pc.take(pa.concat_arrays([cols[k], old_cols[k]]), pa.array(order)) for k in cols}
    is_old = np.concatenate([np.zeros(n, bool), np.ones(len(old_rows), bool)])[order]
    row_person = np.concatenate([persons, persons[old_rows]])[order]
    fresh = ~is_old & ~np.isin(row_person, persons[old_rows]) & (p.shared_group[row_person] < 0)

    plant = Planter(rng, len(order), rate=0.002)
    rows = plant.pick("invalid_email", fresh & pc.is_valid(out["email"]).to_numpy(zero_copy_only=False))
    local = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(pc.take(out["email"], pa.array(rows))), 0, 40)
    truncated = [s.split("@")[0] + "@" for s in local.to_pylist()]
    choice = plant.values(INVALID_EMAILS, len(rows))
    out["email"] = f.replace_at(
        out["email"], rows, [t if i % 2 == 0 else c for i, (t, c) in enumerate(zip(truncated, choice, strict=True))]
    )
    rows = plant.pick("unparseable_date", fresh)
    out["birth_date"] = f.replace_at(out["birth_date"], rows, plant.values(BAD_DATES, len(rows)))
    rows = plant.pick("missing_required", fresh)
    out["created_at"] = f.replace_at(out["created_at"], rows, [None] * len(rows))

    return SourceResult(
        columns=out,
        record_ids=cols["customer_id"],
        record_person=persons + 1,
        defects=plant.counts,
        variants={"older_version": int(len(old_rows))},
        free_text=("email", "first_name", "last_name", "city"),
        # each CRM customer's latest record as written (before planted defects) and their consents: whom a past
        # campaign could reach (history.py)
        known={
            "persons": persons,
            "email": cols["email"],
            "phone": cols["phone"],
            "country": cols["country"],
            "consent": {purpose: (consent_value[purpose], consent_at[purpose]) for purpose in CONSENT_PURPOSES},
            "planted_defect": row_person[plant.used],  # their latest record has one: the loader may quarantine it
        },
    )
