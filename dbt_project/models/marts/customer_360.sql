-- One row per customer: who they are, what they do, where they stand, which segments they are in and what they
-- are predicted to be worth. A view over int_customer_360 with the predicted CLV (int_customer_clv): a join on
-- the customer key that each audience reading it repeats cheaply.
{{ config(materialized='view') }}

select
    {{ star_except('customer', [
        'predicted_purchases', 'probability_alive', 'predicted_order_value', 'predicted_clv'
    ]) }},
    clv.expected_purchases as predicted_purchases,
    clv.probability_alive,
    clv.expected_order_value as predicted_order_value,
    coalesce(clv.predicted_clv, 0) as predicted_clv
from {{ ref('int_customer_360') }} as customer
left join {{ ref('int_customer_clv') }} as clv on customer.customer_key = clv.customer_key
