"""What the organisation sells and publishes: performances, workshops, merchandise and web pages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .names import ascii_slug

SHOWS = (
    "Hamlet",
    "De Gebroeders Leeuwenhart",
    "Zoë en de walvis",
    "José en de zee",
    "Müller & Müller",
    "Café Chantant",
    "Crème brûlée",
    "Oedipus",
    "Het Achterhuis",
    "De Vliegende Hollander",
    "Carmen",
    "Max Havelaar",
    "Kees de jongen",
    "Pluk van de Petteflet",
    "Een Midzomernachtsdroom",
    "Medea",
    "De Avonden",
    "Lucifer",
    "Gijsbrecht van Aemstel",
    "Nachtwacht",
    "Turks Fruit",
    "Titaantjes",
    "Buurvrouw Beatrix",
    "Wolken boven Bergen",
    "Façade",
    "Noël in de polder",
    "Liefde en Geluk",
    "Het Diner",
    "Tirza",
    "De Aanslag",
    "Godot wacht niet",
    "Bonjour Paris",
    "Señor Tango",
    "Sinterklaas in de schouwburg",
    "Kerstcircus",
    "Het Zwanenmeer",
    "De Notenkraker",
    "Mahler 5",
    "Schubert bij kaarslicht",
    "Jazz op zondag",
    "Stand-up Nederland",
    "Cabaret in de kelder",
)
WORKSHOPS = (
    ("Keramiek voor beginners", 145_00),
    ("Draaien op de pottenbakkersschijf", 189_00),
    ("Glazuren en stoken", 95_00),
    ("Aquarelleren", 85_00),
    ("Olieverf voor gevorderden", 175_00),
    ("Modeltekenen", 65_00),
    ("Portretfotografie", 129_00),
    ("Straatfotografie", 79_00),
    ("Analoge fotografie en doka", 149_00),
    ("Zeefdrukken", 110_00),
    ("Linoleumsnede", 69_00),
    ("Kalligrafie", 59_00),
    ("Illustreren met inkt", 72_50),
    ("Beeldhouwen in speksteen", 165_00),
    ("Sieraden maken", 98_00),
    ("Schrijven voor het toneel", 195_00),
    ("Improvisatietheater", 120_00),
    ("Stemtraining", 88_00),
    ("Smartphonefotografie", 49_50),
    ("Abstract schilderen", 135_00),
    ("Mozaïek", 89_00),
    ("Houtsnijden", 79_50),
    ("Boekbinden", 92_00),
    ("Vilten", 55_00),
)
MERCHANDISE = (
    ("Programmaboek", 7_50),
    ("Tas met logo", 12_95),
    ("Poster voorstelling", 9_95),
    ("Mok", 11_50),
    ("Los nummer magazine", 8_95),
    ("Cadeaukaart", 25_00),
    ("Notitieboek", 14_95),
    ("Theaterkijker", 39_95),
    ("Ansichtkaarten (set)", 4_95),
    ("Pin", 3_50),
)
ARTICLES = (
    "in-gesprek-met-de-regisseur",
    "achter-de-schermen",
    "tien-jaar-keramiek",
    "de-geschiedenis-van-ons-gebouw",
    "fotografie-tips-voor-de-herfst",
    "recensie-hamlet",
    "het-nieuwe-seizoen",
    "interview-met-zoe",
    "wat-doet-een-souffleur",
    "kunst-en-klimaat",
    "vrijwilligers-aan-het-woord",
    "de-kostuumafdeling",
    "zo-maak-je-een-decor",
    "kinderen-en-theater",
    "schilderen-met-licht",
    "de-klei-van-de-streek",
    "column-de-zaal",
    "nieuw-in-de-winkel",
    "programmeur-kiest",
    "lezersvragen",
)
STATIC_PAGES = (
    ("/", 10.0),
    ("/agenda", 9.0),
    ("/workshops", 4.0),
    ("/magazine", 3.5),
    ("/nieuwsbrief", 0.8),
    ("/over-ons", 0.8),
    ("/contact", 1.0),
    ("/tickets/winkelwagen", 2.0),
    ("/vrienden", 0.6),
    ("/bereikbaarheid", 1.2),
    ("/zoeken", 1.5),
    ("/account", 1.0),
)


@dataclass(frozen=True)
class Catalogue:
    show_names: tuple[str, ...]
    show_slugs: tuple[str, ...]
    show_price: np.ndarray  # cents per ticket
    workshop_names: tuple[str, ...]
    workshop_slugs: tuple[str, ...]
    workshop_price: np.ndarray
    merch_names: tuple[str, ...]
    merch_slugs: tuple[str, ...]
    merch_price: np.ndarray
    perf_day: np.ndarray  # one entry per performance, sorted by day
    perf_show: np.ndarray
    page_paths: tuple[str, ...]  # browseable pages (no sign-up pages)
    page_weights: np.ndarray
    page_workshop: np.ndarray  # workshop index of a page, -1 if none

    def next_performance(self, days: np.ndarray) -> np.ndarray:
        """Index of the first performance on or after each day (clipped to the last one)."""
        return np.minimum(np.searchsorted(self.perf_day, days, side="left"), len(self.perf_day) - 1)


def slugify(text: str) -> str:
    words = ["".join(ch for ch in ascii_slug(w)) for w in text.replace("&", " en ").split()]
    return "-".join(w for w in words if w)


def build(start_day: int, end_day: int) -> Catalogue:
    rng = np.random.default_rng(7)  # the programme is the same for every run with the same window
    show_slugs = tuple(slugify(s) for s in SHOWS)
    show_price = (rng.integers(18, 66, len(SHOWS)) * 100 + rng.choice([0, 50], len(SHOWS))).astype(np.int64)
    days = np.arange(start_day, end_day + 120)
    month = (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12) + 1
    weekday = (days + 3) % 7
    p_show = np.where(np.isin(month, (7, 8)), 0.08, np.where(weekday == 0, 0.15, 0.85))
    first = rng.random(len(days)) < p_show
    second = first & (rng.random(len(days)) < np.where(month == 12, 0.7, 0.25))
    perf_day = np.concatenate([days[first], days[second]])
    k = np.concatenate([np.zeros(first.sum(), np.int64), np.ones(second.sum(), np.int64)])
    # a show runs for a couple of weeks; a second show that day is a different one
    perf_show = ((perf_day // 17) * 5 + k * 11 + (perf_day % 3) * (k == 0)) % len(SHOWS)
    order = np.lexsort((perf_show, perf_day))
    perf_day, perf_show = perf_day[order], perf_show[order]
    keep = np.r_[True, (perf_day[1:] != perf_day[:-1]) | (perf_show[1:] != perf_show[:-1])]
    perf_day, perf_show = perf_day[keep], perf_show[keep]

    ws_slugs = tuple(slugify(w) for w, _ in WORKSHOPS)
    paths, weights, wsidx = [], [], []
    for p, w in STATIC_PAGES:
        paths.append(p), weights.append(w), wsidx.append(-1)
    for i, s in enumerate(show_slugs):
        paths.append(f"/voorstellingen/{s}"), weights.append(1.2 / (1 + i % 7)), wsidx.append(-1)
    for i, s in enumerate(ws_slugs):
        paths.append(f"/workshops/{s}"), weights.append(1.0 / (1 + i % 5)), wsidx.append(i)
    for i, a in enumerate(ARTICLES):
        paths.append(f"/magazine/{a}"), weights.append(0.4 / (1 + i % 4)), wsidx.append(-1)
    weights = np.array(weights)
    return Catalogue(
        show_names=SHOWS,
        show_slugs=show_slugs,
        show_price=show_price,
        workshop_names=tuple(w for w, _ in WORKSHOPS),
        workshop_slugs=ws_slugs,
        workshop_price=np.array([p for _, p in WORKSHOPS], dtype=np.int64),
        merch_names=tuple(m for m, _ in MERCHANDISE),
        merch_slugs=tuple(slugify(m) for m, _ in MERCHANDISE),
        merch_price=np.array([p for _, p in MERCHANDISE], dtype=np.int64),
        perf_day=perf_day,
        perf_show=perf_show,
        page_paths=tuple(paths),
        page_weights=weights / weights.sum(),
        page_workshop=np.array(wsidx, dtype=np.int64),
    )
