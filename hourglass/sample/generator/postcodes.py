"""The postcode scheme people live in, and the reference seed dbt joins it with.

Areas are 4-digit postcodes grouped into real-world ranges per town (1011-1109 Amsterdam, 3011-3089
Rotterdam, ...). Urbanity follows the CBS scale (1 = very strongly urban ... 5 = not urban); within a town the
first areas (the old centre) are the most urban. Income bands are fixed per area from a town's base level and a
deterministic wobble, so the seed never changes unless this table does.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from hourglass.settings import DBT_PROJECT_DIR

SEED_PATH = DBT_PROJECT_DIR / "seeds" / "ref_postcode_regions.csv"
SEED_COLUMNS = ("postcode4", "city", "province", "region", "urbanity", "income_band")
INCOME_BANDS = ("low", "below_average", "average", "above_average", "high")

# first, last, town, province, urbanity of the centre, residents (thousands), income level 0-4
TOWNS: tuple[tuple[int, int, str, str, int, int, int], ...] = (
    (1011, 1109, "Amsterdam", "Noord-Holland", 1, 930, 2),
    (1111, 1115, "Diemen", "Noord-Holland", 2, 32, 2),
    (1131, 1135, "Volendam", "Noord-Holland", 3, 23, 2),
    (1181, 1189, "Amstelveen", "Noord-Holland", 2, 92, 4),
    (1211, 1223, "Hilversum", "Noord-Holland", 2, 92, 3),
    (1241, 1252, "Laren", "Noord-Holland", 4, 11, 4),
    (1271, 1277, "Huizen", "Noord-Holland", 3, 42, 3),
    (1311, 1359, "Almere", "Flevoland", 2, 226, 2),
    (1381, 1384, "Weesp", "Noord-Holland", 3, 21, 3),
    (1401, 1406, "Bussum", "Noord-Holland", 2, 33, 3),
    (1421, 1424, "Uithoorn", "Noord-Holland", 3, 30, 2),
    (1431, 1433, "Aalsmeer", "Noord-Holland", 3, 33, 3),
    (1441, 1448, "Purmerend", "Noord-Holland", 2, 93, 2),
    (1501, 1509, "Zaandam", "Noord-Holland", 2, 78, 1),
    (1521, 1531, "Wormerveer", "Noord-Holland", 3, 25, 1),
    (1601, 1602, "Enkhuizen", "Noord-Holland", 3, 19, 2),
    (1621, 1628, "Hoorn", "Noord-Holland", 2, 74, 2),
    (1701, 1706, "Heerhugowaard", "Noord-Holland", 3, 58, 2),
    (1781, 1789, "Den Helder", "Noord-Holland", 3, 56, 0),
    (1791, 1797, "Den Burg", "Noord-Holland", 5, 14, 2),
    (1811, 1826, "Alkmaar", "Noord-Holland", 2, 110, 2),
    (1861, 1862, "Bergen", "Noord-Holland", 4, 30, 4),
    (1901, 1902, "Castricum", "Noord-Holland", 3, 36, 3),
    (1941, 1949, "Beverwijk", "Noord-Holland", 2, 42, 1),
    (1961, 1969, "Heemskerk", "Noord-Holland", 2, 39, 2),
    (1971, 1976, "IJmuiden", "Noord-Holland", 2, 33, 1),
    (2011, 2037, "Haarlem", "Noord-Holland", 1, 163, 3),
    (2041, 2042, "Zandvoort", "Noord-Holland", 3, 17, 3),
    (2061, 2061, "Bloemendaal", "Noord-Holland", 4, 23, 4),
    (2101, 2106, "Heemstede", "Noord-Holland", 2, 27, 4),
    (2131, 2136, "Hoofddorp", "Noord-Holland", 2, 77, 3),
    (2201, 2204, "Noordwijk", "Zuid-Holland", 3, 44, 3),
    (2221, 2225, "Katwijk", "Zuid-Holland", 2, 66, 2),
    (2241, 2245, "Wassenaar", "Zuid-Holland", 4, 27, 4),
    (2251, 2253, "Voorschoten", "Zuid-Holland", 3, 25, 3),
    (2261, 2267, "Leidschendam", "Zuid-Holland", 2, 40, 2),
    (2271, 2275, "Voorburg", "Zuid-Holland", 1, 40, 3),
    (2281, 2289, "Rijswijk", "Zuid-Holland", 1, 56, 2),
    (2311, 2334, "Leiden", "Zuid-Holland", 1, 126, 2),
    (2341, 2343, "Oegstgeest", "Zuid-Holland", 2, 25, 4),
    (2401, 2409, "Alphen aan den Rijn", "Zuid-Holland", 2, 113, 2),
    (2491, 2599, "Den Haag", "Zuid-Holland", 1, 560, 2),
    (2611, 2629, "Delft", "Zuid-Holland", 1, 104, 2),
    (2631, 2636, "Nootdorp", "Zuid-Holland", 3, 20, 3),
    (2661, 2662, "Bergschenhoek", "Zuid-Holland", 3, 19, 3),
    (2671, 2675, "Naaldwijk", "Zuid-Holland", 3, 34, 2),
    (2711, 2729, "Zoetermeer", "Zuid-Holland", 2, 126, 2),
    (2801, 2809, "Gouda", "Zuid-Holland", 2, 75, 1),
    (2871, 2871, "Schoonhoven", "Zuid-Holland", 4, 12, 2),
    (2901, 2909, "Capelle aan den IJssel", "Zuid-Holland", 2, 67, 2),
    (2921, 2926, "Krimpen aan den IJssel", "Zuid-Holland", 2, 29, 2),
    (2951, 2954, "Alblasserdam", "Zuid-Holland", 3, 20, 2),
    (3011, 3089, "Rotterdam", "Zuid-Holland", 1, 664, 1),
    (3111, 3125, "Schiedam", "Zuid-Holland", 1, 80, 1),
    (3131, 3138, "Vlaardingen", "Zuid-Holland", 2, 75, 1),
    (3141, 3147, "Maassluis", "Zuid-Holland", 2, 34, 2),
    (3161, 3162, "Rhoon", "Zuid-Holland", 4, 13, 3),
    (3191, 3197, "Hoogvliet", "Zuid-Holland", 2, 35, 0),
    (3201, 3209, "Spijkenisse", "Zuid-Holland", 2, 73, 1),
    (3311, 3329, "Dordrecht", "Zuid-Holland", 2, 120, 1),
    (3341, 3344, "Hendrik-Ido-Ambacht", "Zuid-Holland", 3, 32, 3),
    (3351, 3356, "Papendrecht", "Zuid-Holland", 2, 32, 2),
    (3401, 3404, "IJsselstein", "Utrecht", 2, 34, 2),
    (3431, 3439, "Nieuwegein", "Utrecht", 2, 64, 2),
    (3441, 3448, "Woerden", "Utrecht", 3, 53, 3),
    (3511, 3585, "Utrecht", "Utrecht", 1, 368, 2),
    (3601, 3608, "Maarssen", "Utrecht", 3, 40, 3),
    (3701, 3709, "Zeist", "Utrecht", 2, 66, 3),
    (3721, 3723, "Bilthoven", "Utrecht", 3, 22, 4),
    (3741, 3744, "Baarn", "Utrecht", 3, 25, 4),
    (3811, 3829, "Amersfoort", "Utrecht", 2, 160, 2),
    (3831, 3833, "Leusden", "Utrecht", 3, 30, 3),
    (3901, 3906, "Veenendaal", "Utrecht", 2, 68, 2),
    (3911, 3911, "Rhenen", "Utrecht", 4, 20, 2),
    (4001, 4007, "Tiel", "Gelderland", 3, 42, 1),
    (4101, 4105, "Culemborg", "Gelderland", 3, 30, 2),
    (4201, 4206, "Gorinchem", "Zuid-Holland", 3, 38, 2),
    (4301, 4301, "Zierikzee", "Zeeland", 4, 11, 2),
    (4331, 4339, "Middelburg", "Zeeland", 3, 49, 2),
    (4381, 4389, "Vlissingen", "Zeeland", 3, 45, 1),
    (4461, 4465, "Goes", "Zeeland", 3, 39, 2),
    (4531, 4537, "Terneuzen", "Zeeland", 3, 25, 1),
    (4611, 4625, "Bergen op Zoom", "Noord-Brabant", 2, 68, 1),
    (4701, 4709, "Roosendaal", "Noord-Brabant", 2, 78, 1),
    (4811, 4839, "Breda", "Noord-Brabant", 2, 185, 2),
    (4901, 4909, "Oosterhout", "Noord-Brabant", 3, 56, 2),
    (5011, 5049, "Tilburg", "Noord-Brabant", 2, 224, 1),
    (5101, 5104, "Dongen", "Noord-Brabant", 4, 26, 2),
    (5141, 5146, "Waalwijk", "Noord-Brabant", 3, 49, 2),
    (5211, 5237, "'s-Hertogenbosch", "Noord-Brabant", 2, 160, 2),
    (5241, 5249, "Rosmalen", "Noord-Brabant", 3, 34, 3),
    (5261, 5264, "Vught", "Noord-Brabant", 3, 32, 4),
    (5341, 5345, "Oss", "Noord-Brabant", 3, 93, 1),
    (5401, 5406, "Uden", "Noord-Brabant", 3, 42, 2),
    (5461, 5467, "Veghel", "Noord-Brabant", 3, 40, 2),
    (5501, 5509, "Veldhoven", "Noord-Brabant", 2, 46, 3),
    (5611, 5658, "Eindhoven", "Noord-Brabant", 1, 240, 2),
    (5661, 5664, "Geldrop", "Noord-Brabant", 2, 29, 2),
    (5681, 5684, "Best", "Noord-Brabant", 3, 31, 3),
    (5701, 5709, "Helmond", "Noord-Brabant", 2, 93, 1),
    (5801, 5804, "Venray", "Limburg", 4, 44, 2),
    (5911, 5928, "Venlo", "Limburg", 2, 102, 1),
    (6001, 6006, "Weert", "Limburg", 3, 50, 1),
    (6041, 6045, "Roermond", "Limburg", 2, 59, 1),
    (6131, 6137, "Sittard", "Limburg", 2, 48, 1),
    (6161, 6167, "Geleen", "Limburg", 2, 32, 1),
    (6211, 6229, "Maastricht", "Limburg", 1, 122, 1),
    (6291, 6291, "Vaals", "Limburg", 5, 10, 1),
    (6411, 6419, "Heerlen", "Limburg", 2, 87, 0),
    (6461, 6469, "Kerkrade", "Limburg", 2, 45, 0),
    (6511, 6546, "Nijmegen", "Gelderland", 1, 179, 1),
    (6701, 6709, "Wageningen", "Gelderland", 2, 39, 2),
    (6711, 6718, "Ede", "Gelderland", 2, 119, 2),
    (6811, 6846, "Arnhem", "Gelderland", 1, 164, 1),
    (6861, 6862, "Oosterbeek", "Gelderland", 3, 17, 4),
    (6881, 6883, "Velp", "Gelderland", 3, 18, 3),
    (6901, 6904, "Zevenaar", "Gelderland", 3, 44, 2),
    (7001, 7009, "Doetinchem", "Gelderland", 3, 58, 1),
    (7101, 7103, "Winterswijk", "Gelderland", 4, 29, 2),
    (7201, 7207, "Zutphen", "Gelderland", 3, 48, 1),
    (7311, 7339, "Apeldoorn", "Gelderland", 2, 165, 2),
    (7411, 7429, "Deventer", "Overijssel", 2, 101, 1),
    (7511, 7548, "Enschede", "Overijssel", 2, 160, 0),
    (7551, 7559, "Hengelo", "Overijssel", 2, 81, 1),
    (7601, 7609, "Almelo", "Overijssel", 2, 73, 0),
    (7811, 7828, "Emmen", "Drenthe", 3, 107, 0),
    (7901, 7909, "Hoogeveen", "Drenthe", 3, 56, 1),
    (7941, 7944, "Meppel", "Drenthe", 3, 34, 2),
    (8011, 8045, "Zwolle", "Overijssel", 2, 131, 2),
    (8211, 8226, "Lelystad", "Flevoland", 2, 80, 1),
    (8301, 8309, "Emmeloord", "Flevoland", 4, 27, 1),
    (8321, 8322, "Urk", "Flevoland", 4, 21, 1),
    (8355, 8355, "Giethoorn", "Overijssel", 5, 3, 3),
    (8441, 8448, "Heerenveen", "Friesland", 3, 51, 1),
    (8601, 8608, "Sneek", "Friesland", 3, 34, 1),
    (8861, 8862, "Harlingen", "Friesland", 4, 16, 1),
    (8911, 8941, "Leeuwarden", "Friesland", 2, 125, 1),
    (9101, 9104, "Dokkum", "Friesland", 4, 13, 1),
    (9161, 9164, "Ameland", "Friesland", 5, 4, 2),
    (9201, 9207, "Drachten", "Friesland", 3, 45, 1),
    (9401, 9409, "Assen", "Drenthe", 3, 68, 2),
    (9501, 9503, "Stadskanaal", "Groningen", 4, 31, 0),
    (9601, 9603, "Hoogezand", "Groningen", 3, 35, 0),
    (9641, 9648, "Veendam", "Groningen", 4, 27, 0),
    (9671, 9675, "Winschoten", "Groningen", 4, 18, 0),
    (9711, 9747, "Groningen", "Groningen", 1, 235, 1),
    (9751, 9753, "Haren", "Groningen", 3, 20, 4),
    (9931, 9934, "Delfzijl", "Groningen", 4, 24, 0),
)
PROVINCE_REGION = {
    "Noord-Holland": "Randstad-Noord",
    "Utrecht": "Randstad-Noord",
    "Zuid-Holland": "Randstad-Zuid",
    "Flevoland": "Oost",
    "Gelderland": "Oost",
    "Overijssel": "Oost",
    "Groningen": "Noord",
    "Friesland": "Noord",
    "Drenthe": "Noord",
    "Noord-Brabant": "Zuid",
    "Limburg": "Zuid",
    "Zeeland": "Zuid-West",
}
REGION_OVERRIDES = {
    "Almere": "Randstad-Noord",
    "Alkmaar": "Noord-Holland-Noord",
    "Den Helder": "Noord-Holland-Noord",
    "Hoorn": "Noord-Holland-Noord",
    "Enkhuizen": "Noord-Holland-Noord",
    "Heerhugowaard": "Noord-Holland-Noord",
    "Bergen": "Noord-Holland-Noord",
}


class Scheme:
    """Column arrays, one entry per postcode area, in postcode order."""

    def __init__(self) -> None:
        pc4, city, prov, region, urb, weight, income = [], [], [], [], [], [], []
        wobble = np.random.default_rng(20_240_601)  # fixed: the scheme is reference data, not per-run data
        for first, last, town, province, centre, residents, level in TOWNS:
            n = last - first + 1
            for i, code in enumerate(range(first, last + 1)):
                pc4.append(code)
                city.append(town)
                prov.append(province)
                region.append(REGION_OVERRIDES.get(town, PROVINCE_REGION[province]))
                ring = i / max(n - 1, 1)  # 0 = centre, 1 = edge of town
                urb.append(int(min(5, centre + (1 if ring > 0.5 and n > 4 else 0))))
                income.append(
                    int(np.clip(level + wobble.choice([-1, 0, 0, 0, 1]) + (1 if ring > 0.8 and level < 4 else 0), 0, 4))
                )
                weight.append(residents / n)
        self.postcode4 = np.array(pc4, dtype=np.int64)
        self.city = city
        self.province = prov
        self.region = region
        self.urbanity = np.array(urb, dtype=np.int64)
        self.income = np.array(income, dtype=np.int64)
        self.residents = np.array(weight, dtype=float)
        self.index_of_city = {}
        for i, c in enumerate(city):
            self.index_of_city.setdefault(c, []).append(i)

    def __len__(self) -> int:
        return len(self.postcode4)


_SCHEME: Scheme | None = None


def scheme() -> Scheme:
    global _SCHEME
    if _SCHEME is None:
        _SCHEME = Scheme()
    return _SCHEME


def postcode_seed_csv() -> str:
    """The seed file's exact text."""
    s = scheme()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SEED_COLUMNS)
    for i in range(len(s)):
        w.writerow((s.postcode4[i], s.city[i], s.province[i], s.region[i], s.urbanity[i], INCOME_BANDS[s.income[i]]))
    return buf.getvalue()


def write_postcode_seed(path: Path = SEED_PATH) -> Path:
    """(Re)write dbt_project/seeds/ref_postcode_regions.csv; a test checks it matches postcode_seed_csv()."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(postcode_seed_csv(), encoding="utf-8", newline="")
    return path
