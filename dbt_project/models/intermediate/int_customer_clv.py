"""Predicted customer lifetime value per customer: BG/NBD purchases times Gamma-Gamma spend.

Every customer with an order, every run (their weeks since the first and the last purchase grow each day),
with the newest fit of int_customer_clv_fit. The horizon is the dbt var clv_horizon_weeks; no discounting or
margin is applied.
"""

import pyarrow as pa

from hourglass import clv

PREDICTIONS = ("expected_purchases", "probability_alive", "expected_order_value", "predicted_clv")


def model(dbt, session):
    dbt.config(materialized="table")
    horizon = float(dbt.config.get("horizon_weeks"))
    newest = dbt.ref("int_customer_clv_fit").order("fitted_for desc, fitted_at desc").limit(1)
    fit = newest.to_arrow_table().to_pylist()
    # Arrow in and out, no pandas: at 1M customers a data frame cost 0.3 s each way, its keys as Python strings.
    orders = dbt.ref("int_customer_orders").project("customer_key, " + clv.INPUTS).to_arrow_table()
    rows = len(orders)
    fitted_for = pa.repeat(pa.scalar(fit[0]["fitted_for"] if fit else None, pa.date32()), rows)
    if not fit or fit[0]["r"] is None:  # too few buyers to fit: no prediction
        predictions = {name: pa.nulls(rows, pa.float64()) for name in PREDICTIONS}
        return pa.table({"customer_key": orders["customer_key"], **predictions, "fitted_for": fitted_for})
    x, t_x, age, mean_value = clv.input_arrays(orders)
    purchases = clv.BgNbd(**{name: fit[0][name] for name in ("r", "alpha", "a", "b")})
    spend = clv.GammaGamma(**{name: fit[0][name] for name in ("p", "q", "gamma")})
    expected_purchases = purchases.expected_purchases(horizon, x, t_x, age)
    expected_order_value = spend.expected_spend(x, mean_value)
    return pa.table({
        "customer_key": orders["customer_key"],
        "expected_purchases": expected_purchases,
        "probability_alive": purchases.probability_alive(x, t_x, age),
        "expected_order_value": expected_order_value,
        "predicted_clv": expected_purchases * expected_order_value,
        "fitted_for": fitted_for,  # which fit (int_customer_clv_fit)
    })  # fmt: skip
