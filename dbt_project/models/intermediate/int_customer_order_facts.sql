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
with customer_orders as (
    select all_orders.*
    from {{ ref('int_orders') }} as all_orders
    where {{ to_refresh('all_orders.customer_key', customers_with_changed_orders()) }}
),

orders as (
    select
        customer_key,
        order_id,
        order_date,
        order_amount
    from customer_orders
    where order_amount > 0  -- net of refunds; an order of cancelled lines only has 0
),

order_gaps as (
    select
        customer_key,
        order_date,
        order_date - lag(order_date) over (partition by customer_key order by order_date, order_id) as gap_days
    from orders
),

per_customer as (
    select
        customer_key,
        count(*) as orders,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        sum(order_amount) as monetary_value,
        avg(order_amount) as average_order_value,
        -- the repeat orders' mean value, the spend input of the Gamma-Gamma model (the first order: the
        -- earliest, two on one day in order_id order, as in order_gaps)
        (sum(order_amount) - arg_min(order_amount, (order_date, order_id))) / nullif(count(*) - 1, 0)
            as average_repeat_order_value,
        count(*) filter (where order_date > {{ days_before(as_of_date(), 365) }}) as orders_last_365_days
    from orders
    group by customer_key
),

last_gap as (
    -- the pause before the most recent order: a long one means the customer was won back
    select
        customer_key,
        gap_days as gap_before_last_order_days
    from order_gaps
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
