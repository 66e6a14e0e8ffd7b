"""Predicted customer lifetime value per customer: BG/NBD purchases times Gamma-Gamma spend.

Fitted on every customer with an order, in weeks, by hourglass.clv (tested against the published CDNOW
fits). The horizon is the dbt var clv_horizon_weeks; no discounting or margin is applied.
"""

import json

import numpy as np

from hourglass import clv

MIN_CUSTOMERS = 20  # fewer buyers than this is too little to fit; CLV stays empty


def model(dbt, session):
    dbt.config(materialized="table")
    horizon = float(dbt.config.get("horizon_weeks"))
    # The table's row order varies from build to build; the fits group identical rows in sorted order first,
    # so the sums they minimise, and the answers, do not depend on it.
    columns = "customer_key, orders, tenure_days, recency_days, average_repeat_order_value"
    orders = dbt.ref("int_customer_orders").project(columns).df()
    x = (orders["orders"] - 1).to_numpy(dtype=float)
    t_x = ((orders["tenure_days"] - orders["recency_days"]) / 7).to_numpy(dtype=float)
    age = (orders["tenure_days"] / 7).to_numpy(dtype=float)
    mean_value = orders["average_repeat_order_value"].fillna(0).to_numpy(dtype=float)

    out = orders[["customer_key"]].copy()
    if len(orders) < MIN_CUSTOMERS or (x > 0).sum() < MIN_CUSTOMERS:
        for column in ("expected_purchases", "probability_alive", "expected_order_value", "predicted_clv"):
            out[column] = np.nan
        out["clv_model"] = None
        return out
    purchases = clv.fit_bgnbd(x, t_x, age)
    spend = clv.fit_gamma_gamma(x, mean_value)
    out["expected_purchases"] = purchases.expected_purchases(horizon, x, t_x, age)
    out["probability_alive"] = purchases.probability_alive(x, t_x, age)
    out["expected_order_value"] = spend.expected_spend(x, mean_value)
    out["predicted_clv"] = out["expected_purchases"] * out["expected_order_value"]
    out["clv_model"] = json.dumps(
        {"horizon_weeks": horizon, "bgnbd": vars(purchases), "gamma_gamma": vars(spend)}, default=float
    )
    return out
