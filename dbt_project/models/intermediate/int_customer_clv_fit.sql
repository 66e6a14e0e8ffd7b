-- The CLV model's fits, one row per fit, which the CLV step makes outside dbt (hourglass/model_steps.py) from
-- int_customer_orders.
{{ config(materialized='view') }}
-- depends_on: {{ ref('int_customer_orders') }}  (the step's input: a selection of this model builds it)
select
    fitted_for,
    fitted_at,
    buyers,
    repeat_buyers,
    r,
    alpha,
    a,
    b,
    p,
    q,
    gamma
from {{ source('steps', 'clv_fits') }}
