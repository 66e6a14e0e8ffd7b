{{ config(**parquet_handoff()) }}
-- Purchase behaviour per customer: recency, frequency, monetary value and what they buy, on completed lines net
-- of refunds (cancelled lines left out), over purchases (is_purchase: free orders too). The CLV model's
-- frequency counts purchase days, as BG/NBD defines a transaction (Fader, Hardie & Lee 2005): several orders
-- on one day are one, and the Gamma-Gamma spend is per purchase day.
with purchase_days as (
    select
        customer_key,
        order_date,
        count(*) as orders,
        sum(order_amount) as amount
    from {{ ref('int_orders') }}
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
        (sum(amount) - min_by(amount, order_date)) / nullif(count(*) - 1, 0) as average_repeat_purchase_day_value,
        cast(coalesce(sum(orders) filter (where order_date > {{ days_before(as_of_date(), 365) }}), 0) as bigint)
            as orders_last_365_days
    from purchase_days
    group by customer_key
),

last_gap as (
    -- the pause before the most recent purchase day: a long one means the customer was won back
    select
        customer_key,
        {{ days_between('lag(order_date) over (partition by customer_key order by order_date)', 'order_date') }}
            as gap_before_last_order_days
    from purchase_days
    qualify row_number() over (partition by customer_key order by order_date desc) = 1
),

categories as (
    select
        customer_key,
        sum(ticket_lines) as ticket_lines,
        sum(workshop_lines) as workshop_lines,
        sum(merchandise_lines) as merchandise_lines,
        array_sort(array_distinct(flatten(array_agg(categories)))) as categories_bought
    from {{ ref('int_orders') }}
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
    {{ days_between('per_customer.last_order_date', as_of_date()) }} as recency_days,
    {{ days_between('per_customer.first_order_date', as_of_date()) }} as tenure_days,
    -- the CLV model's inputs in weeks (the yml says how they follow BG/NBD's definitions)
    per_customer.purchase_days - 1 as repeat_purchase_days,
    {{ days_between('per_customer.first_order_date', 'per_customer.last_order_date') }} / 7
        as weeks_first_to_last_purchase,
    {{ days_between('per_customer.first_order_date', as_of_date()) }} / 7 as weeks_since_first_purchase
from per_customer
left join last_gap on per_customer.customer_key = last_gap.customer_key
left join categories on per_customer.customer_key = categories.customer_key
