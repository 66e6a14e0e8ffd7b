"""The public CDNOW sample, raw transactions through the landing contracts and one nightly run, gives the
published BG/NBD and Gamma-Gamma inputs and fits (docs/clv.md).

The raw file (tests/fixtures/CDNOW_sample.txt, as the `lifetimes` package ships it): one line per transaction of
the 2,357 customers of the 1/10 sample of CDNOW's first-quarter-1997 cohort, with the customer's id in the
master file, their id in the sample, the day (YYYYMMDD), the number of CDs and the dollar value. The published
summary (tests/fixtures/cdnow_sample_calibration.csv) is for the 39-week calibration period ending 1997-09-30.
"""

import csv
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import write_landing

from hourglass import settings

FIXTURES = Path(__file__).parent / "fixtures"
CALIBRATION_END = date(1997, 9, 30)

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", on this sample's calibration period;
# Gamma-Gamma from Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves" (gamma is their nu). The
# lifetimes package's tests hold the same values.
PUBLISHED_FIT = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "gamma": 15.44}


@dataclass(frozen=True)
class Transaction:
    line: int
    customer: int  # the id in the sample
    day: date
    cds: int
    dollars: Decimal


def transactions() -> list[Transaction]:
    found = []
    with (FIXTURES / "CDNOW_sample.txt").open() as fh:
        for line, text in enumerate(fh, start=1):
            _, customer, day, cds, dollars = text.split()
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            found.append(Transaction(line, int(customer), when, int(cds), Decimal(dollars)))
    return found


def btyd_summary(rows: list[Transaction], end: date) -> dict[int, tuple[int, float, float, Decimal]]:
    """x, t_x, T (weeks) and the mean repeat spend per customer, by the published definitions: a transaction is a
    day with a purchase, x counts those after the first, t_x and T run from the first to the last and to `end`,
    and the mean spend is over the repeat days' spend (0 without one)."""
    spend: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for t in rows:
        if t.day <= end:
            spend[t.customer][t.day] += t.dollars
    summary = {}
    for customer, days in spend.items():
        first, *repeats = sorted(days)
        last = repeats[-1] if repeats else first
        mean = sum(days[d] for d in repeats) / len(repeats) if repeats else Decimal(0)
        summary[customer] = (len(repeats), (last - first).days / 7, (end - first).days / 7, mean)
    return summary


def published_summary() -> dict[int, tuple[int, float, float, Decimal]]:
    with (FIXTURES / "cdnow_sample_calibration.csv").open() as fh:
        return {
            int(r["ID"]): (int(r["x"]), float(r["t_x"]), float(r["T"]), Decimal(r["zbar"])) for r in csv.DictReader(fh)
        }


def rounded(summary: dict) -> dict:
    """As the summary is published: weeks and dollars to two decimals (half a cent up)."""
    cents = Decimal("0.01")
    return {
        c: (x, round(t_x, 2), round(T, 2), Decimal(m).quantize(cents, ROUND_HALF_UP))
        for c, (x, t_x, T, m) in summary.items()
    }


def test_the_published_definitions_give_the_published_summary_and_aggregates():
    rows = transactions()
    summary = btyd_summary(rows, CALIBRATION_END)
    assert len(rows) == 6919 and len(summary) == 2357
    assert rounded(summary) == published_summary()
    # FHL 2005 ("RFM and CLV", on the 946 customers with a repeat purchase in the calibration period): their
    # mean repeat spend averages $35, median $27, standard deviation $30, from $3 to $300.
    means = [float(m) for x, _, _, m in summary.values() if x > 0]
    assert len(means) == 946
    spread = (statistics.mean(means), statistics.median(means), statistics.stdev(means))
    assert [round(v) for v in spread] == [35, 27, 30]
    assert (round(min(means)), round(max(means))) == (3, 300)
    # What makes the sample a test of the definitions: orders are not purchase days (customer 1901 has 56 order
    # lines on 22 days up to the calibration's end), and free orders are purchases (8 lines of $0.00).
    lines = defaultdict(int)
    for t in rows:
        lines[t.customer] += t.day <= CALIBRATION_END
    assert (lines[1901] - 1, summary[1901][0]) == (55, 21)
    assert sum(1 for c, n in lines.items() if n - 1 != summary[c][0]) == 80
    assert sum(1 for t in rows if t.dollars == 0) == 8


def _amount(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")  # the ERP's decimal comma (docs/sources.md)


def write_cdnow_landing(home: Path, rows: list[Transaction]) -> None:
    """The sample as the CRM and the ERP deliver it: a customer record per sample id, an order per transaction
    line, in one ERP export per month (the months after the calibration period included: the run's day cuts
    them off)."""
    first: dict[int, date] = {}
    for t in rows:
        first[t.customer] = min(first.get(t.customer, t.day), t.day)
    crm = [
        {"customer_id": f"CD{c:04d}", "created_at": f"{day}T09:00:00", "updated_at": f"{day}T09:00:00", "country": "US"}
        for c, day in sorted(first.items())
    ]
    write_landing(home, "crm_customers", f"crm_customers_{CALIBRATION_END}.csv", crm)
    months: dict[str, list[dict]] = defaultdict(list)
    for t in rows:
        at = f"{t.day:%d-%m-%Y} 12:00"
        months[f"{t.day:%Y-%m}"].append(
            {
                "order_id": f"CD-{t.line:05d}",
                "line_no": "1",
                "customer_id": f"CD{t.customer:04d}",
                "order_at": at,
                "product_id": "CD",
                "product_name": "CDs",
                "category": "merchandise",
                "quantity": str(t.cds),
                "unit_price": _amount(t.dollars / t.cds),
                "line_amount": _amount(t.dollars),
                "currency": "USD",
                "status": "completed",
                "updated_at": at,
            }
        )
    for orders in months.values():  # each export dated by its last order
        last = max(datetime.strptime(o["order_at"], "%d-%m-%Y %H:%M").date() for o in orders)
        write_landing(home, "erp_orders", f"erp_orders_{last}.csv", orders)


@pytest.fixture(scope="module")
def cdnow_night(tmp_path_factory, dbt_manifest):
    """One nightly run as of the calibration period's last day, in its own process, as an operator starts it."""
    home = tmp_path_factory.mktemp("cdnow")
    write_cdnow_landing(home, transactions())
    env = {
        "PATH": f"{settings.PROJECT_ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOURGLASS_HOME": str(home),
        "HOURGLASS_AS_OF_DATE": CALIBRATION_END.isoformat(),
        "HOURGLASS_HISTORY_START": "1997-01-01",
        "HOURGLASS_NOW": f"{CALIBRATION_END}T10:00:00",
    }
    # `hourglass run` less its `dbt parse`, which would save this home's parse over the session's.
    night = "import sys; from hourglass.cli import run_job; sys.exit(not run_job('nightly', 'WARNING'))"
    done = subprocess.run(
        [sys.executable, "-c", night], env=env, cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        inputs = con.sql(
            """select cast(substr(map.source_key, 3) as integer) as customer, orders.repeat_purchase_days,
                      orders.weeks_first_to_last_purchase, orders.weeks_since_first_purchase,
                      coalesce(orders.average_repeat_purchase_day_value, 0)
               from int_customer_orders as orders
               inner join identity_map as map
                   on map.customer_key = orders.customer_key and map.source = 'crm_customers'"""
        ).fetchall()
        names = ["buyers", "repeat_buyers", *PUBLISHED_FIT]
        (fit,) = con.sql(f"select {', '.join(names)} from int_customer_clv_fit").fetchall()
    return {c: rest for c, *rest in inputs}, dict(zip(names, fit, strict=True))


def test_a_nightly_run_gives_every_customer_the_published_summary(cdnow_night):
    inputs, _ = cdnow_night
    published = published_summary()
    assert inputs.keys() == published.keys()
    weeks = {c: (x, round(t_x, 2), round(T, 2)) for c, (x, t_x, T, _) in inputs.items()}
    assert weeks == {c: (x, t_x, T) for c, (x, t_x, T, _) in published.items()}
    expected = btyd_summary(transactions(), CALIBRATION_END)  # the published zbar, unrounded
    spend = {c: m for c, (*_, m) in inputs.items()}
    assert all(abs(spend[c] - float(m)) < 1e-6 for c, (*_, m) in expected.items()), "the mean repeat spend"


def test_a_nightly_run_fits_the_published_parameters_within_one_percent(cdnow_night):
    _, fit = cdnow_night
    assert (fit["buyers"], fit["repeat_buyers"]) == (2357, 946)  # Gamma-Gamma is fitted on the 946
    off = {name: fit[name] / published - 1 for name, published in PUBLISHED_FIT.items()}
    assert all(abs(share) < 0.01 for share in off.values()), off
