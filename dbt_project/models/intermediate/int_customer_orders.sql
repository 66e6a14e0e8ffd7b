{{ config(materialized='view') }}
-- Purchase behaviour per customer: recency, frequency, monetary value and what they buy. The facts are kept
-- incrementally in int_customer_order_facts; recency and tenure, which change every day, are counted here.
select
    * exclude (as_of_date, built_at),
    {{ days_between('last_order_date', as_of_date()) }} as recency_days,
    {{ days_between('first_order_date', as_of_date()) }} as tenure_days
from {{ ref('int_customer_order_facts') }}
