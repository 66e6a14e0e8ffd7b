"""The true persons behind every record, and how they type their e-mail address and phone number.

A person is one row in these arrays; person_id = index + 1. Which systems a person appears in is decided
here, so that every source module draws its records from the same population.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import names as nm
from .clock import Clock
from .fields import DAY, concat, pick
from .postcodes import scheme

LANGUAGES = ("nl", "en", "de", "fr")
COUNTRIES = ("NL", "BE", "DE")
FOREIGN_CITIES = {"BE": ("Antwerpen", "Gent", "Brussel", "Hasselt"), "DE": ("Köln", "Düsseldorf", "Aachen", "Kleve")}
POSTCODE_LETTERS = np.frombuffer(b"ABCDEGHJKLMNPRSTVWXZ", dtype=np.uint8)
AREA_CODES = ("20", "10", "70", "30", "40", "50", "23", "71", "15", "26", "24", "43", "53", "38")
EXPAT_CITIES = ("Amsterdam", "Den Haag", "Eindhoven", "Amstelveen", "Utrecht")
REGION_PULL = {"Randstad-Noord": 2.5, "Randstad-Zuid": 1.5}


@dataclass
class People:
    n: int
    as_of_end: int
    first_name: pa.Array
    last_name: pa.Array
    email: pa.Array  # canonical: lower case, no spaces (shared addresses included)
    phone_nsn: pa.Array  # national significant number, e.g. 612345678, null when unknown
    phone_mobile: np.ndarray
    birth_day: np.ndarray
    age: np.ndarray
    postcode_idx: np.ndarray  # into postcodes.scheme()
    postcode_letters: pa.Array
    country: np.ndarray  # index into COUNTRIES
    foreign_city: pa.Array
    partner: np.ndarray  # 0/1, -1 unknown
    children: np.ndarray  # -1 unknown
    language: np.ndarray  # index into LANGUAGES
    young: np.ndarray
    dink: np.ndarray
    expat: np.ndarray
    has_crm: np.ndarray
    in_leads: np.ndarray
    in_esp: np.ndarray
    on_web: np.ndarray
    crm_created: np.ndarray  # seconds, -1 when no CRM record
    lead_created: np.ndarray  # seconds, -1 when no lead
    visitor_no: np.ndarray  # web visitor number (tracking id), -1 when never on the web
    shared_group: np.ndarray  # index into shared_emails, -1 for a personal address
    subscriber: np.ndarray  # holds a magazine or season-ticket subscription (CRM customers only)
    lapsing: np.ndarray  # a subscriber who bought tickets regularly and stopped some months ago
    shared_emails: list[str] = field(default_factory=list)
    shared_kind: list[str] = field(default_factory=list)

    @property
    def person_id(self) -> np.ndarray:
        return np.arange(1, self.n + 1, dtype=np.int64)


def build(rng: np.random.Generator, n: int, clock: Clock) -> People:
    sch = scheme()
    end = clock.end
    expat = rng.random(n) < 0.07
    # ages: ~15% young (16-30), the rest lean towards the typical 45-75 culture audience
    young = rng.random(n) < 0.15
    age = np.where(young, rng.integers(16, 31, n), np.clip(rng.normal(55, 14, n), 31, 92).astype(np.int64))
    age = np.where(expat & ~young, np.clip(rng.normal(38, 8, n), 31, 70).astype(np.int64), age)
    birth_day = end - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)

    partner = np.where(
        age < 25,
        rng.random(n) < 0.15,
        np.where(age <= 50, rng.random(n) < 0.65, np.where(age <= 75, rng.random(n) < 0.7, rng.random(n) < 0.45)),
    ).astype(np.int64)
    kids = np.where(rng.random(n) < 0.45, 0, rng.integers(1, 4, n))
    children = np.where(
        age < 25, 0, np.where(age <= 50, kids, np.where(rng.random(n) < 0.75, 0, rng.integers(1, 3, n)))
    )
    unknown = rng.random(n) < 0.12
    partner = np.where(unknown, -1, partner)
    children = np.where(unknown | (rng.random(n) < 0.03), -1, children)
    dink = (partner == 1) & (children == 0) & (age >= 25) & (age <= 50)

    language = np.where(
        expat, np.where(rng.random(n) < 0.9, 1, rng.integers(2, 4, n)), rng.choice(4, n, p=[0.96, 0.015, 0.015, 0.01])
    )

    region_pull = np.array([REGION_PULL.get(r, 0.8) for r in sch.region])
    w = sch.residents * region_pull
    postcode_idx = rng.choice(len(sch), n, p=w / w.sum())
    expat_pool = np.concatenate([sch.index_of_city[c] for c in EXPAT_CITIES])
    ew = sch.residents[expat_pool]
    expat_home = expat & (rng.random(n) < 0.75)
    postcode_idx[expat_home] = rng.choice(expat_pool, int(expat_home.sum()), p=ew / ew.sum())
    letters = POSTCODE_LETTERS[rng.integers(0, len(POSTCODE_LETTERS), (n, 2))]
    postcode_letters = pa.array(np.ascontiguousarray(letters).view("S2").ravel(), pa.binary(2)).cast(pa.string())
    country = np.where(expat, 0, rng.choice(3, n, p=[0.988, 0.007, 0.005]))
    city_choice = rng.integers(0, 4, n)
    foreign = [
        FOREIGN_CITIES["BE"][i] if c == 1 else FOREIGN_CITIES["DE"][i] if c == 2 else None
        for c, i in zip(country[country > 0].tolist(), city_choice[country > 0].tolist(), strict=True)
    ]
    foreign_city = pa.nulls(n, pa.string())
    if foreign:
        idx = np.full(n, -1)
        idx[country > 0] = np.arange(len(foreign))
        foreign_city = pick(pa.array(foreign, pa.string()), np.maximum(idx, 0), idx < 0)

    # names
    nl_first = nm.zipf_weights(len(nm.FIRST_NAMES_NL), 0.6)
    intl_first = nm.zipf_weights(len(nm.FIRST_NAMES_INTL), 0.4)
    fi = np.where(
        expat,
        len(nm.FIRST_NAMES_NL) + rng.choice(len(nm.FIRST_NAMES_INTL), n, p=intl_first),
        rng.choice(len(nm.FIRST_NAMES_NL), n, p=nl_first),
    )
    first_all = list(nm.FIRST_NAMES_NL) + list(nm.FIRST_NAMES_INTL)
    intl_last = np.array(
        [
            i
            for i, s in enumerate(nm.LAST_NAMES)
            if i >= nm.LAST_NAMES.index("Müller") and i < nm.LAST_NAMES.index("Hoogendoorn")
        ]
    )
    li = rng.choice(len(nm.LAST_NAMES), n, p=nm.zipf_weights(len(nm.LAST_NAMES), 0.7))
    li = np.where(expat, rng.choice(intl_last, n), li)

    # systems: ~80% have a CRM record; the rest are prospects in leads, the newsletter and/or the web
    has_crm = rng.random(n) < 0.8
    in_leads = np.where(has_crm, rng.random(n) < 0.15, rng.random(n) < 0.45)
    in_esp = np.where(has_crm, rng.random(n) < 0.25, rng.random(n) < 0.5)
    on_web = np.where(has_crm, rng.random(n) < 0.45, rng.random(n) < 0.55)
    nowhere = ~(has_crm | in_leads | in_esp | on_web)
    pick_one = rng.integers(0, 3, n)
    in_leads |= nowhere & (pick_one == 0)
    in_esp |= nowhere & (pick_one == 1)
    on_web |= nowhere & (pick_one == 2)
    on_web |= in_esp  # newsletter clicks carry a tracking id onto the site

    # dates: a converted lead came first, the CRM record followed
    lead_created = np.full(n, -1, np.int64)
    crm_created = np.full(n, -1, np.int64)
    lead_day = clock.seasonal_days(rng, n, clock.start, end - 45)
    lead_created[in_leads] = lead_day[in_leads] * DAY + Clock.times_of_day(rng, int(in_leads.sum()))
    converted = has_crm & in_leads
    old_customer = rng.integers(end - 12 * 365, end - 1, n)
    recent_customer = clock.seasonal_days(rng, n, clock.start, end - 1)
    cday = np.where(rng.random(n) < 0.55, old_customer, recent_customer)
    cday = np.where(converted, np.minimum(lead_day + rng.integers(1, 180, n), end - 1), cday)
    crm_created[has_crm] = cday[has_crm] * DAY + Clock.times_of_day(rng, int(has_crm.sum()), "office")

    # phones: mostly mobiles, some landlines, a fifth unknown
    mobile = rng.random(n) < 0.83
    mob = concat("6", pa.array(rng.integers(10_000_000, 100_000_000, n)).cast(pa.string()))
    land = concat(
        pick(AREA_CODES, rng.integers(0, len(AREA_CODES), n)),
        pa.array(rng.integers(2_000_000, 10_000_000, n)).cast(pa.string()),
    )
    phone = pc.if_else(pa.array(mobile), mob, land)
    # BE and DE residents have a number of their country: the same drawn digits in that country's plan
    last8, last7 = pc.utf8_slice_codeunits(phone, -8), pc.utf8_slice_codeunits(phone, -7)
    be = pc.if_else(pa.array(mobile), concat("4", last8), concat("2", last7))
    de = pc.if_else(pa.array(mobile), concat("151", last8), concat("30", last8))
    phone = pc.if_else(pa.array(country == 1), be, pc.if_else(pa.array(country == 2), de, phone))
    phone = pc.if_else(pa.array(rng.random(n) < 0.2), pa.nulls(n, pa.string()), phone)

    people = People(
        n=n,
        as_of_end=end,
        first_name=pick(first_all, fi),
        last_name=pick(nm.LAST_NAMES, li),
        email=pa.nulls(n, pa.string()),
        phone_nsn=phone,
        phone_mobile=mobile,
        birth_day=birth_day,
        age=age,
        postcode_idx=postcode_idx,
        postcode_letters=postcode_letters,
        country=country,
        foreign_city=foreign_city,
        partner=partner,
        children=children,
        language=language,
        young=young,
        dink=dink,
        expat=expat,
        has_crm=has_crm,
        in_leads=in_leads,
        in_esp=in_esp,
        on_web=on_web,
        crm_created=crm_created,
        lead_created=lead_created,
        visitor_no=np.full(n, -1, np.int64),
        shared_group=np.full(n, -1, np.int64),
        subscriber=np.zeros(n, bool),
        lapsing=np.zeros(n, bool),
    )
    _emails(rng, people, fi, li, first_all)
    people.on_web |= people.in_esp
    people.visitor_no[people.on_web] = np.arange(int(people.on_web.sum()))
    _subscribers(rng, people, end)
    return people


SUBSCRIBER_SHARE = 0.12  # of CRM customers
LAPSING_SHARE = 0.08  # of subscribers
LAPSING_MIN_TENURE_DAYS = 800  # a lapsing regular's buying years and the months since fit after their CRM record


def _subscribers(rng: np.random.Generator, p: People, end: int) -> None:
    """Who holds a subscription, and which subscribers are lapsing regulars.

    A lapsing regular bought tickets about monthly for a year or so and has not for some months, while their
    magazine keeps coming (orders.py and subscriptions.py shape their records). BG/NBD judges them likely gone,
    yet worth keeping: the members of the churn-risk campaign. Decided here, so orders, subscriptions and the
    CRM's consents agree about the same persons.
    """
    p.subscriber = p.has_crm & (rng.random(p.n) < SUBSCRIBER_SHARE)
    old_enough = p.subscriber & (p.crm_created >= 0) & (p.crm_created // DAY <= end - LAPSING_MIN_TENURE_DAYS)
    pool = np.flatnonzero(old_enough)
    chosen = rng.choice(pool, min(len(pool), int(round(LAPSING_SHARE * p.subscriber.sum()))), replace=False)
    p.lapsing[chosen] = True


def _emails(rng: np.random.Generator, p: People, fi: np.ndarray, li: np.ndarray, first_all: list[str]) -> None:
    n = p.n
    first = pick([nm.ascii_slug(s) for s in first_all], fi)
    last = pick([nm.ascii_slug(s) for s in nm.LAST_NAMES], li)
    yy = pc.utf8_lpad(
        pa.array((p.birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970) % 100).cast(
            pa.string()
        ),
        2,
        "0",
    )
    nn = pa.array(rng.integers(1, 100, n)).cast(pa.string())
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    patterns = [
        concat(first, last, sep="."),
        concat(first, last),
        concat(initial, last, sep="."),
        concat(first, last, sep="_"),
        concat(concat(first, last, sep="."), yy),
        concat(first, nn),
        concat(last, first, sep="."),
        concat(initial, last),
    ]
    which = rng.choice(len(patterns), n, p=[0.3, 0.12, 0.14, 0.05, 0.12, 0.1, 0.05, 0.12])
    local = patterns[0]
    for k in range(1, len(patterns)):
        local = pc.if_else(pa.array(which == k), patterns[k], local)
    domain = pick(
        nm.PERSONAL_DOMAINS, rng.choice(len(nm.PERSONAL_DOMAINS), n, p=nm.zipf_weights(len(nm.PERSONAL_DOMAINS), 1.0))
    )
    email = concat(local, domain, sep="@")
    dup = pd.Series(email.to_numpy(zero_copy_only=False)).duplicated().to_numpy()
    if dup.any():
        fixed = concat(local, pa.array(np.arange(1, n + 1)).cast(pa.string()), sep=".p")
        email = pc.if_else(pa.array(dup), concat(fixed, domain, sep="@"), email)

    # shared family and office addresses, each used by 5-40 CRM persons
    crm_ids = np.flatnonzero(p.has_crm)
    n_groups = max(2, n // 25_000)
    cap = max(10, int(0.04 * len(crm_ids)))
    sizes = np.where(np.arange(n_groups) % 2 == 0, rng.integers(5, 9, n_groups), rng.integers(10, 41, n_groups))
    while sizes.sum() > cap and sizes.max() > 5:
        sizes = np.maximum(5, (sizes * 0.8).astype(np.int64))
    members = rng.permutation(crm_ids)[: int(sizes.sum())]
    group = np.repeat(np.arange(n_groups), sizes)[: len(members)]
    shared, kinds = [], []
    last_names = p.last_name.to_pylist()
    used_family = set()
    for g in range(n_groups):
        if g % 2 == 0:
            lead = members[group == g][0]
            surname = nm.ascii_slug(last_names[lead])
            address = f"familie.{surname}@{nm.PERSONAL_DOMAINS[g % len(nm.PERSONAL_DOMAINS)]}"
            while address in used_family:
                address = address.replace("@", f"{g}@", 1)
            used_family.add(address)
            kinds.append("family")
        else:
            stem = nm.COMPANY_STEMS[(g // 2) % len(nm.COMPANY_STEMS)]
            box = nm.OFFICE_BOXES[(g // 2) // len(nm.COMPANY_STEMS) % len(nm.OFFICE_BOXES)]
            suffix = "" if g // 2 < len(nm.COMPANY_STEMS) * len(nm.OFFICE_BOXES) else str(g)
            address = f"{box}@{stem}{suffix}.nl"
            kinds.append("office")
        shared.append(address)
    p.shared_group[members] = group
    # a shared address is one newsletter subscriber: the first member's
    p.in_esp[members] = False
    p.in_esp[members[np.r_[True, group[1:] != group[:-1]]]] = True
    p.shared_emails, p.shared_kind = shared, kinds
    # families share a surname too
    fam = members[np.isin(group, np.arange(0, n_groups, 2))]
    if len(fam):
        lead_of = {g: members[group == g][0] for g in range(0, n_groups, 2)}
        src = np.array([lead_of[g] for g in group[np.isin(group, np.arange(0, n_groups, 2))]])
        idx = np.arange(n)
        idx[fam] = src
        p.last_name = pc.take(p.last_name, pa.array(idx))
    gi = p.shared_group
    email = pc.if_else(pa.array(gi >= 0), pick(shared, np.maximum(gi, 0)), email)
    p.email = email


def typed_email(rng: np.random.Generator, canonical: pa.Array, p_case: float = 0.12, p_space: float = 0.05) -> pa.Array:
    """Addresses as people type them: sometimes capitalised or shouted, sometimes with stray spaces."""
    n = len(canonical)
    r = rng.random(n)
    out = canonical
    out = pc.if_else(pa.array(r < p_case * 0.5), pc.utf8_capitalize(out), out)
    out = pc.if_else(pa.array((r >= p_case * 0.5) & (r < p_case * 0.8)), pc.utf8_title(out), out)
    out = pc.if_else(pa.array((r >= p_case * 0.8) & (r < p_case)), pc.utf8_upper(out), out)
    s = rng.random(n)
    out = pc.if_else(pa.array(s < p_space * 0.4), concat(" ", out), out)
    out = pc.if_else(pa.array((s >= p_space * 0.4) & (s < p_space * 0.8)), concat(out, " "), out)
    out = pc.if_else(pa.array((s >= p_space * 0.8) & (s < p_space)), concat(" ", out, "  "), out)
    return out


def typed_phone(
    rng: np.random.Generator, nsn: pa.Array, mobile: np.ndarray, country: np.ndarray, national: bool = True
) -> pa.Array:
    """06-12345678, +31 6 12345678, 0031612345678, 0612345678, 020-1234567, +31 (0)20 1234567 ... A BE or DE
    number is written nationally (0470123456) only where the record says the country (`national`), else with
    its country code: a national number is read as being of the record's country, Dutch when it has none."""
    n = len(nsn)
    rest_m = pc.utf8_slice_codeunits(nsn, 1)
    area = pc.utf8_slice_codeunits(nsn, 0, 2)
    rest_l = pc.utf8_slice_codeunits(nsn, 2)
    mob_forms = [
        concat("06-", rest_m),
        concat("+31 6 ", rest_m),
        concat("0031", nsn),
        concat("0", nsn),
        concat("+31", nsn),
        concat("06 ", rest_m),
        concat("+31 (0)6 ", rest_m),
    ]
    land_forms = [
        concat("0", area, "-", rest_l),
        concat("+31 ", area, " ", rest_l),
        concat("0031", nsn),
        concat("0", nsn),
        concat("+31", nsn),
        concat("0", area, " ", rest_l),
        concat("+31 (0)", area, " ", rest_l),
    ]
    code = pick(("31", "32", "49"), country)
    spaced = concat("+", code, " ", nsn)
    foreign_forms = [
        concat("0", nsn) if national else spaced,
        spaced,
        concat("00", code, nsn),
        concat("0", nsn) if national else concat("+", code, " (0)", nsn),
        concat("+", code, nsn),
        concat("0", nsn) if national else spaced,
        concat("+", code, " (0)", nsn),
    ]
    which = rng.choice(7, n, p=[0.32, 0.15, 0.1, 0.25, 0.08, 0.05, 0.05])
    dutch = pc.if_else(pa.array(mobile), mob_forms[0], land_forms[0])
    for k in range(1, 7):
        dutch = pc.if_else(pa.array(which == k), pc.if_else(pa.array(mobile), mob_forms[k], land_forms[k]), dutch)
    foreign = foreign_forms[0]
    for k in range(1, 7):
        foreign = pc.if_else(pa.array(which == k), foreign_forms[k], foreign)
    return pc.if_else(pa.array(country > 0), foreign, dutch)


def pick_persons(rng: np.random.Generator, p: People, n: int, crm_share: float) -> np.ndarray:
    """n persons, each a CRM customer with probability crm_share, else a prospect (when there are any)."""
    crm = np.flatnonzero(p.has_crm)
    other = np.flatnonzero(~p.has_crm)
    from_crm = rng.random(n) < (crm_share if len(other) else 1.0)
    return np.where(from_crm, rng.choice(crm, n), rng.choice(other, n) if len(other) else 0)
