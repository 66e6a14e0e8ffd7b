"""The CLV model's fitted parameters, one row per fit: BG/NBD for how often, Gamma-Gamma for how much.

Fitted on every customer with an order, in weeks, by hourglass.clv (tested against the published CDNOW fits).
The fit is most of the CLV's cost, and its parameters describe the whole customer base, which a day moves
little (at 1M, a day's refit changed predictions by a median 0.2%). So a run fits again only when the newest
fit (read from this table) is clv_refit_days (a dbt var) older than the run's day, was made for a later day,
or has no parameters; otherwise it adds nothing and int_customer_clv predicts every customer, every night,
with the newest fit. The rows are the history of fits, to watch the model drift. A full refresh fits again.
"""

import os
from datetime import UTC, date, datetime

import pyarrow as pa

from hourglass import clv

MIN_CUSTOMERS = 20  # fewer buyers than this is too little to fit; the parameters stay empty
PARAMETERS = ("r", "alpha", "a", "b", "p", "q", "gamma")


def run_day(dbt) -> date:
    """The run's day as the as_of_date macro has it: the dbt var, else HOURGLASS_AS_OF_DATE, else today."""
    day = dbt.config.get("as_of_date_var") or os.environ.get("HOURGLASS_AS_OF_DATE")
    return date.fromisoformat(day) if day and day != "None" else date.today()


def model(dbt, session):
    dbt.config(materialized="incremental")
    day, refit_days = run_day(dbt), int(dbt.config.get("refit_days"))
    if dbt.is_incremental:
        newest = session.sql(
            f"select fitted_for, r is not null from {dbt.this} order by fitted_for desc, fitted_at desc limit 1"
        ).fetchall()
        if newest and newest[0][1] and 0 <= (day - newest[0][0]).days < refit_days:
            return _rows([])  # the newest fit stands

    orders = dbt.ref("int_customer_orders").project(clv.INPUTS).to_arrow_table()
    x, t_x, age, mean_value = clv.input_arrays(orders)
    fitted_at = datetime.now(UTC).replace(tzinfo=None)  # UTC, like the run stamps of the other models
    fit = {"fitted_for": day, "fitted_at": fitted_at, "buyers": len(x), "repeat_buyers": int((x > 0).sum())}
    if len(x) < MIN_CUSTOMERS or (x > 0).sum() < MIN_CUSTOMERS:
        return _rows([fit | dict.fromkeys(PARAMETERS)])
    fit |= vars(clv.fit_bgnbd(x, t_x, age)) | vars(clv.fit_gamma_gamma(x, mean_value))
    return _rows([fit])


def _rows(fits: list[dict]) -> pa.Table:
    schema = pa.schema(
        [("fitted_for", pa.date32()), ("fitted_at", pa.timestamp("us")), ("buyers", pa.int64()),
         ("repeat_buyers", pa.int64()), *((name, pa.float64()) for name in PARAMETERS)]
    )  # fmt: skip
    return pa.Table.from_pylist(
        [{k: (float(v) if k in PARAMETERS and v is not None else v) for k, v in f.items()} for f in fits], schema=schema
    )
