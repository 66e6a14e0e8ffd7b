"""Names, e-mail domains and organisations the fictional people are drawn from.

Each name comes with the ASCII form used to build e-mail addresses. Every string here is Latin-1 safe.
Earlier entries are more common (weights fall off like a Zipf curve).
"""

from __future__ import annotations

import unicodedata

import numpy as np

FIRST_NAMES_NL = (
    "Emma Julia Sophie Anna Lotte Sanne Lisa Eva Fleur Anouk Iris Noor Lieke Femke Marloes Esther Linda Monique "
    "Ingrid Marieke Petra Annemiek Karin Wilma Ria Els Joke Truus Hanneke Saskia Mirjam Yvonne Miriam Nienke "
    "Daan Sem Lucas Levi Finn Thijs Jesse Bram Ruben Lars Tim Sander Bas Jeroen Martijn Mark Peter Jan Kees "
    "Henk Gerrit Willem Hans Pieter Dirk Joost Wouter Maarten Rob Erik Ton Frank Arjan Niels Koen Stijn Gijs "
    "Zoë José Renée Noël Chloé Inès Anaïs Maël Loïs Eliëtte Geertruida Wilhelmina Cornelis Hendrikus"
).split()
FIRST_NAMES_INTL = (
    "James Olivia Emily Michael Sarah David Laura Daniel Anna Thomas Priya Arjun Wei Mei Carlos María José "
    "Lucía Marco Giulia François Amélie Jürgen Björn Søren Ingrid Aleksandra Tomasz Mehmet Ayşe Fatima Youssef "
    "Ana João Élodie Zoë Noah Liam Chloé Hannah"
).split()
LAST_NAMES = (
    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|de Boer|Mulder|de Groot|"
    "Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|Dijkstra|Smits|de Graaf|van der Meer|"
    "van der Linden|Kok|Jacobs|de Haan|Vermeulen|van den Heuvel|van der Veen|van den Broek|de Bruijn|"
    "de Bruin|van der Heijden|Schouten|van Beek|Willems|van Vliet|van de Ven|Hoekstra|Maas|Verhoeven|Koster|"
    "van Dam|van der Wal|Prins|Blom|Huisman|Peeters|de Lange|Kuiper|van Wijk|Post|Kuipers|Veenstra|Kramer|"
    "van den Brink|Scholten|van Wijngaarden|Timmermans|Groen|Bosch|Gerritsen|Müller|Schröder|Özdemir|Yılmaz|"
    "Çelik|Pérez|García|Fernández|López|Smith|Brown|Wilson|Dubois|Lefèvre|Rossi|Kowalski|Nguyen|Chen|Patel|"
    "Hoogendoorn|Brinkman|Vink|Mertens|Sijbrandij|IJzerman|Zoëtelief|Verbeek|Evers|van Rijn|Hermans|Boersma"
).split("|")
# Yılmaz carries a dotless i, which Latin-1 lacks: keep the list Latin-1 safe.
LAST_NAMES = [n.replace("ı", "i") for n in LAST_NAMES]
FIRST_NAMES_INTL = [n.replace("ş", "s") for n in FIRST_NAMES_INTL]

PERSONAL_DOMAINS = (
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "ziggo.nl",
    "kpnmail.nl",
    "live.nl",
    "icloud.com",
    "xs4all.nl",
    "planet.nl",
    "hetnet.nl",
    "home.nl",
    "yahoo.com",
    "protonmail.com",
    "telfort.nl",
)
COMPANY_STEMS = (
    "bakkerij-jansen",
    "notariskantoor-visser",
    "architectenbureau-bos",
    "tandartspraktijk-de-wit",
    "advocatenkantoor-smit",
    "huisartsenpraktijk-mulder",
    "bloemenhuis-de-vries",
    "boekhandel-dekker",
    "installatiebedrijf-kok",
    "makelaardij-de-groot",
    "fysiotherapie-brouwer",
    "drukkerij-hendriks",
    "kinderopvang-zonnetje",
    "basisschool-de-regenboog",
    "stichting-cultuurkring",
    "vereniging-de-harmonie",
    "zorggroep-de-linde",
    "reisbureau-peters",
    "garage-van-dijk",
    "accountants-meijer",
)
OFFICE_BOXES = ("info", "secretariaat", "administratie", "personeelsvereniging", "kantoor")


def ascii_slug(name: str) -> str:
    """Zoë -> zoe, van den Berg -> vandenberg, IJzerman -> ijzerman."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def zipf_weights(n: int, s: float = 0.8) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()
