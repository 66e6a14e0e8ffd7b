{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_customers_to_refresh(customers_with_changed_orders()) }}",
) }}
-- depends_on: {{ ref('identity_map') }}
-- Purchase behaviour per customer that only changes when their orders do: frequency, monetary value and what
-- they buy, on completed lines net of refunds (cancelled lines left out). int_customer_orders adds recency and
-- tenure, which change every day. A nightly run writes again the customers with new orders, an identity
-- change, or an order leaving the last 365 days (macros/customer_facts.sql).
-- Over purchases (is_purchase: free orders too). The CLV model's frequency counts purchase days, as BG/NBD
-- defines a transaction (Fader, Hardie & Lee 2005): several orders on one day are one, and the Gamma-Gamma
-- spend is per purchase day.
-- A table from before purchase days is written whole once: its rows lack them.
with customer_orders as (
    select all_orders.*
    from {{ ref('int_orders') }} as all_orders
    {% if is_incremental_on('purchase_days') -%}
        where {{ to_refresh('all_orders.customer_key', customers_with_changed_orders()) }}
    {%- endif %}
),

purchase_days as (
    select
        customer_key,
        order_date,
        count(*) as orders,
        sum(order_amount) as amount
    from customer_orders
    where {{ is_purchase() }}
    group by customer_key, order_date
),

per_customer as (
    select
        customer_key,
        cast(sum(orders) as bigint) as orders,  -- a sum of counts is a 128-bit integer in DuckDB
        count(*) as purchase_days,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        sum(amount) as monetary_value,
        sum(amount) / sum(orders) as average_order_value,
        -- the repeat purchase days' mean spend, the input of the Gamma-Gamma model (the first day left out)
        (sum(amount) - arg_min(amount, order_date)) / nullif(count(*) - 1, 0) as average_repeat_purchase_day_value,
        cast(coalesce(sum(orders) filter (where order_date > {{ days_before(as_of_date(), 365) }}), 0) as bigint)
            as orders_last_365_days
    from purchase_days
    group by customer_key
),

last_gap as (
    -- the pause before the most recent purchase day: a long one means the customer was won back
    select
        customer_key,
        order_date - lag(order_date) over (partition by customer_key order by order_date) as gap_before_last_order_days
    from purchase_days
    qualify row_number() over (partition by customer_key order by order_date desc) = 1
),

categories as (
    select
        customer_key,
        sum(ticket_lines) as ticket_lines,
        sum(workshop_lines) as workshop_lines,
        sum(merchandise_lines) as merchandise_lines,
        list_sort(list_distinct(flatten(array_agg(categories)))) as categories_bought
    from customer_orders
    where counted_lines > 0
    group by customer_key
)

select
    per_customer.*,
    last_gap.gap_before_last_order_days,
    categories.ticket_lines,
    categories.workshop_lines,
    categories.merchandise_lines,
    categories.categories_bought,
    {{ as_of_date() }} as as_of_date,
    {{ run_stamp() }} as built_at
from per_customer
left join last_gap on per_customer.customer_key = last_gap.customer_key
left join categories on per_customer.customer_key = categories.customer_key
