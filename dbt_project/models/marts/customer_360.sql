-- One row per customer: who they are, what they do, where they stand, which segments they are in and what they
-- are predicted to be worth. A view over int_customer_360, adding what moves for nearly every customer every day:
-- the days since the last order, and the predicted CLV (int_customer_clv). At 1M customers an audience reading it
-- spends about 0.03 s on that.
{{ config(materialized='view') }}

select
    customer.* exclude (row_hash, built_at) replace (  -- noqa: RF02
        {{ days_between('customer.last_order_date', as_of_date()) }} as recency_days,
        clv.expected_purchases as predicted_purchases,
        clv.probability_alive as probability_alive,
        clv.expected_order_value as predicted_order_value,
        coalesce(clv.predicted_clv, 0) as predicted_clv
    )
from {{ ref('int_customer_360') }} as customer
left join {{ ref('int_customer_clv') }} as clv on customer.customer_key = clv.customer_key
