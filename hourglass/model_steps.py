"""The middle's Python steps, outside dbt so every engine runs the same code: who is one person (the identity
graph's connected components), and predicted CLV (the model's fit, then a prediction per customer).

dbt-spark runs Python models only on Databricks, and a step written twice would drift. So each step is a Dagster
asset between two dbt selections, and Parquet is the contract on both sides: dbt writes a step's input as a
hand-off model (dbt_project/macros/handoff.sql: dbt-duckdb's external file or a Spark table's folder, both under
HOURGLASS_HOME/lake/model/<model>/), the step reads it with pyarrow, and writes its result to
lake/model/<step>/, which dbt reads as a source (`steps`) on either engine.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hourglass import clv, settings
from hourglass.handoffs import (
    CLV_FITS,
    CLV_PREDICTIONS,
    CUSTOMER_ORDERS,
    HANDOFFS,
    IDENTITY_COMPONENTS,
    IDENTITY_LINKS,
    PARTS,
    model_dir,
)

CLV_MIN_CUSTOMERS = 20  # fewer buyers (or repeat buyers) than this is too little to fit; the parameters stay empty
CLV_PARAMETERS = ("r", "alpha", "a", "b", "p", "q", "gamma")
CLV_FIT_SCHEMA = pa.schema(
    [("fitted_for", pa.date32()), ("fitted_at", pa.timestamp("us")), ("buyers", pa.int64()),
     ("repeat_buyers", pa.int64()), *((name, pa.float64()) for name in CLV_PARAMETERS)]
)  # fmt: skip
CLV_PREDICTION_COLUMNS = ("expected_purchases", "probability_alive", "expected_order_value", "predicted_clv")


def read(name: str) -> pa.Table:
    return pq.read_table(model_dir(name))


def write(name: str, table: pa.Table, part: str = "data") -> Path:
    """A step's result as lake/model/<name>/<part>.parquet, replacing the file of that part atomically."""
    folder = model_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    path, tmp = folder / f"{part}.parquet", folder / f".{part}.parquet.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


# --- identity -----------------------------------------------------------------------------------------------

_RECORDS = """
    select record_id, any_value(source) as source, any_value(source_key) as source_key
    from links group by record_id order by record_id
"""
_EDGES = """
    with records as (
        select record_id, row_number() over (order by record_id) - 1 as record_number
        from (select distinct record_id from links)
    ),
    identifiers as (
        select identifier_type, identifier_value,
               row_number() over (order by identifier_type, identifier_value) - 1 as identifier_number
        from (select distinct identifier_type, identifier_value from links
              where not is_blocked and identifier_value is not null)
    )
    select records.record_number, identifiers.identifier_number
    from links
    inner join records using (record_id)
    inner join identifiers using (identifier_type, identifier_value)
    where not links.is_blocked
"""


def identity_components(links: pa.Table) -> pa.Table:
    """Each record (record_id, source, source_key) with its person's anchor record (anchor_record_id).

    Records and identifiers are the nodes of one undirected graph; each link that is not blocked is an edge.
    SciPy's connected_components labels the graph exactly (no fixed number of SQL iterations to get wrong);
    DuckDB numbers the nodes, so Python handles integer arrays only. A component's anchor is its smallest CRM
    record, else its smallest record: the customer key (identity_map) is a hash of it, so keys stay the same
    from run to run while the data does not change."""
    import duckdb
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    with duckdb.connect() as con:
        con.register("links", links)
        records = con.sql(_RECORDS).to_arrow_table()
        edges = con.sql(_EDGES).fetchnumpy()
    rows = edges["record_number"].astype(np.int64)
    identifiers = edges["identifier_number"].astype(np.int64)
    n_records = records.num_rows
    if n_records == 0:
        return records.append_column("anchor_record_id", pa.array([], pa.string()))
    n = n_records + (int(identifiers.max()) + 1 if len(identifiers) else 0)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, n_records + identifiers)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1][:n_records]

    # Records are sorted by id, so a component's first record is its smallest; the same among its CRM records.
    position = np.arange(n_records)
    is_crm = np.char.startswith(records["record_id"].to_numpy(zero_copy_only=False).astype(str), "crm:")
    anchor = np.empty(labels.max() + 1, dtype=np.int64)
    components, first = np.unique(labels, return_index=True)
    anchor[components] = first
    crm_components, crm_first = np.unique(labels[is_crm], return_index=True)
    anchor[crm_components] = position[is_crm][crm_first]
    return records.append_column("anchor_record_id", records["record_id"].take(pa.array(anchor[labels])))


def run_identity_components() -> int:
    """The identity step: hand-off links in, components out; the number of records."""
    table = identity_components(read(IDENTITY_LINKS))
    write(IDENTITY_COMPONENTS, table)
    return table.num_rows


# --- CLV ------------------------------------------------------------------------------------------------------


def _clv_inputs(orders: pa.Table) -> tuple[np.ndarray, ...]:
    """x, t_x, T (weeks) and the mean repeat purchase-day value, from int_customer_orders' columns."""
    mean_value = orders["average_repeat_purchase_day_value"].fill_null(0)
    columns = [orders["repeat_purchase_days"], orders["weeks_first_to_last_purchase"]]
    columns += [orders["weeks_since_first_purchase"], mean_value]
    return tuple(np.asarray(column.to_numpy(zero_copy_only=False), dtype=float) for column in columns)


def clv_fit(orders: pa.Table, day: date) -> pa.Table:
    """One fit of BG/NBD and Gamma-Gamma on every customer with an order, made for `day`; the parameters stay
    empty when too few bought (or bought again) to fit."""
    x, t_x, age, mean_value = _clv_inputs(orders)
    fitted_at = datetime.now(UTC).replace(tzinfo=None)
    fit = {"fitted_for": day, "fitted_at": fitted_at, "buyers": len(x), "repeat_buyers": int((x > 0).sum())}
    if len(x) < CLV_MIN_CUSTOMERS or (x > 0).sum() < CLV_MIN_CUSTOMERS:
        fit |= dict.fromkeys(CLV_PARAMETERS)
    else:
        parameters = vars(clv.fit_bgnbd(x, t_x, age)) | vars(clv.fit_gamma_gamma(x, mean_value))
        fit |= {name: float(value) for name, value in parameters.items()}
    return pa.Table.from_pylist([fit], schema=CLV_FIT_SCHEMA)


def newest_fit(fits: pa.Table) -> dict | None:
    rows = fits.sort_by([("fitted_for", "descending"), ("fitted_at", "descending")]).slice(0, 1).to_pylist()
    return rows[0] if rows else None


def needs_fit(newest: dict | None, day: date, refit_days: int) -> bool:
    """A fit serves refit_days days: fit again when the newest is older, was made for a later day or is empty."""
    return not newest or newest["r"] is None or not 0 <= (day - newest["fitted_for"]).days < refit_days


def clv_predictions(orders: pa.Table, fit: dict | None, horizon_weeks: float) -> pa.Table:
    """Per customer: purchases expected over the horizon, the probability of being alive, the expected value of
    a purchase and their product, the predicted CLV (no discounting or margin), with the fit's day; null without
    a fit."""
    rows = orders.num_rows
    fitted_for = pa.repeat(pa.scalar(fit["fitted_for"] if fit else None, pa.date32()), rows)
    if not fit or fit["r"] is None:
        predictions = {name: pa.nulls(rows, pa.float64()) for name in CLV_PREDICTION_COLUMNS}
        return pa.table({"customer_key": orders["customer_key"], **predictions, "fitted_for": fitted_for})
    x, t_x, age, mean_value = _clv_inputs(orders)
    purchases = clv.BgNbd(**{name: fit[name] for name in ("r", "alpha", "a", "b")})
    spend = clv.GammaGamma(**{name: fit[name] for name in ("p", "q", "gamma")})
    expected_purchases = purchases.expected_purchases(horizon_weeks, x, t_x, age)
    expected_order_value = spend.expected_spend(x, mean_value)
    return pa.table({
        "customer_key": orders["customer_key"],
        "expected_purchases": expected_purchases,
        "probability_alive": purchases.probability_alive(x, t_x, age),
        "expected_order_value": expected_order_value,
        "predicted_clv": expected_purchases * expected_order_value,
        "fitted_for": fitted_for,
    })  # fmt: skip


def run_clv(day: date, dbt_vars: dict | None = None) -> dict:
    """The CLV step: the history of fits gains one when the newest no longer serves (dbt vars clv_refit_days),
    then every customer with an order is predicted with the newest fit (clv_horizon_weeks). `dbt_vars` overrides
    dbt_project.yml's, as dbt's --vars do."""
    variables = settings.dbt_vars() | (dbt_vars or {})
    orders = read(CUSTOMER_ORDERS)
    fits = read(CLV_FITS) if model_dir(CLV_FITS).exists() else CLV_FIT_SCHEMA.empty_table()
    if needs_fit(newest_fit(fits), day, int(variables["clv_refit_days"])):
        fit = clv_fit(orders, day)
        write(CLV_FITS, fit, part=f"fit-{fit['fitted_at'][0].as_py():%Y%m%dT%H%M%S%f}")
        fits = pa.concat_tables([fits, fit])
    fit = newest_fit(fits)
    write(CLV_PREDICTIONS, clv_predictions(orders, fit, float(variables["clv_horizon_weeks"])))
    return {"fitted_for": fit["fitted_for"] if fit else None, "customers": orders.num_rows}


# --- before dbt runs ------------------------------------------------------------------------------------------

EMPTY_RESULTS = {
    IDENTITY_COMPONENTS: pa.schema(
        [(name, pa.string()) for name in ("record_id", "source", "source_key", "anchor_record_id")]
    ),
    CLV_FITS: CLV_FIT_SCHEMA,
    CLV_PREDICTIONS: pa.schema(
        [
            ("customer_key", pa.string()),
            *((name, pa.float64()) for name in CLV_PREDICTION_COLUMNS),
            ("fitted_for", pa.date32()),
        ]
    ),  # fmt: skip
}


def prepare() -> None:
    """The folders dbt-duckdb writes hand-offs to (it does not create them), and an empty result for each step
    that has not run yet, so dbt can read every source on its first run (the step runs between its parts)."""
    for name in HANDOFFS:
        model_dir(name).mkdir(parents=True, exist_ok=True)
    for name, schema in EMPTY_RESULTS.items():
        if not model_dir(name).exists():
            write(name, schema.empty_table(), part="empty")


# --- outside Dagster ------------------------------------------------------------------------------------------


def dbt_build(dbt_cli, select: str, *extra: str, day: date | None = None) -> None:
    """`dbt build --select <select> <extra>` outside Dagster (tests, benchmarks) the way a run builds it: in the
    parts around the steps, each step run on what the part before it wrote. `dbt_cli(args)` runs dbt and raises
    when it fails. --full-refresh starts the history of CLV fits anew; --vars reach the CLV step too."""
    import json

    prepare()
    dbt_vars = json.loads(extra[extra.index("--vars") + 1]) if "--vars" in extra else {}
    day = day or settings.as_of_date()
    for number, (part, exclude) in enumerate(PARTS):
        chosen = " ".join(f"{one},{piece}" for one in select.split() for piece in part.split())
        dbt_cli(["build", "--select", chosen, *extra, *(["--exclude", exclude] if exclude else [])])
        if number == 0 and model_dir(IDENTITY_LINKS).exists() and any(model_dir(IDENTITY_LINKS).iterdir()):
            run_identity_components()
        if number == 1 and model_dir(CUSTOMER_ORDERS).exists() and any(model_dir(CUSTOMER_ORDERS).iterdir()):
            if "--full-refresh" in extra:
                for fit in model_dir(CLV_FITS).glob("fit-*.parquet"):
                    fit.unlink()
            run_clv(day, dbt_vars)
