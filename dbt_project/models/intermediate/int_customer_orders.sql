{{ config(materialized='view') }}
-- Purchase behaviour per customer: recency, frequency, monetary value and what they buy. The facts are kept
-- incrementally in int_customer_order_facts; recency and tenure, which change every day, are counted here, and
-- so are the CLV model's inputs in weeks (the yml says how they follow BG/NBD's definitions).
select
    * exclude (as_of_date, built_at),
    {{ days_between('last_order_date', as_of_date()) }} as recency_days,
    {{ days_between('first_order_date', as_of_date()) }} as tenure_days,
    purchase_days - 1 as repeat_purchase_days,
    {{ days_between('first_order_date', 'last_order_date') }} / 7 as weeks_first_to_last_purchase,
    {{ days_between('first_order_date', as_of_date()) }} / 7 as weeks_since_first_purchase
from {{ ref('int_customer_order_facts') }}
