"""Predicted customer lifetime value per customer: BG/NBD purchases times Gamma-Gamma spend.

Fitted on every customer with an order, in weeks, by hourglass.clv (tested against the published CDNOW
fits). The horizon is the dbt var clv_horizon_weeks; no discounting or margin is applied.
"""

import json

import numpy as np
import pyarrow as pa

from hourglass import clv

MIN_CUSTOMERS = 20  # fewer buyers than this is too little to fit; CLV stays empty
PREDICTIONS = ("expected_purchases", "probability_alive", "expected_order_value", "predicted_clv")


def model(dbt, session):
    dbt.config(materialized="table")
    horizon = float(dbt.config.get("horizon_weeks"))
    # The table's row order varies from build to build; the fits group identical rows in sorted order first,
    # so the sums they minimise, and the answers, do not depend on it.
    # Arrow in and out, no pandas: at 1M customers a data frame cost 0.3 s each way, its keys as Python strings.
    orders = (
        dbt.ref("int_customer_orders")
        .project(
            "customer_key, orders - 1 as x, (tenure_days - recency_days) / 7 as t_x, tenure_days / 7 as age, "
            "coalesce(average_repeat_order_value, 0) as mean_value"
        )
        .to_arrow_table()
    )
    x, t_x, age, mean_value = (orders[name].to_numpy().astype(float) for name in ("x", "t_x", "age", "mean_value"))

    columns = {"customer_key": orders["customer_key"]}
    if len(x) < MIN_CUSTOMERS or (x > 0).sum() < MIN_CUSTOMERS:
        return pa.table(
            {
                **columns,
                **{name: pa.nulls(len(x), pa.float64()) for name in PREDICTIONS},
                "clv_model": pa.nulls(len(x), pa.string()),
            }
        )
    purchases = clv.fit_bgnbd(x, t_x, age)
    spend = clv.fit_gamma_gamma(x, mean_value)
    expected_purchases = purchases.expected_purchases(horizon, x, t_x, age)
    expected_order_value = spend.expected_spend(x, mean_value)
    fitted = json.dumps({"horizon_weeks": horizon, "bgnbd": vars(purchases), "gamma_gamma": vars(spend)}, default=float)
    return pa.table({
        **columns,
        "expected_purchases": expected_purchases,
        "probability_alive": purchases.probability_alive(x, t_x, age),
        "expected_order_value": expected_order_value,
        "predicted_clv": expected_purchases * expected_order_value,
        # the same fit on every row: one dictionary entry, written once
        "clv_model": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(x), dtype=np.int32)), pa.array([fitted])),
    })  # fmt: skip
