-- Predicted CLV per customer with an order, which the CLV step computes outside dbt (hourglass/model_steps.py)
-- with the newest fit.
{{ config(materialized='view') }}
-- depends_on: {{ ref('int_customer_orders') }}  (the step's input: a selection of this model builds it)
select
    customer_key,
    expected_purchases,
    probability_alive,
    expected_order_value,
    predicted_clv,
    fitted_for
from {{ source('steps', 'clv_predictions') }}
