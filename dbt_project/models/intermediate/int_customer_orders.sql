-- Purchase behaviour per customer: recency, frequency, monetary value and what they buy.
-- Counted on completed lines net of refunds; cancelled lines are left out.
with orders as (
    select
        customer_key,
        order_id,
        order_date,
        order_amount
    from {{ ref('int_orders') }}
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
        -- the repeat orders' mean value, the spend input of the Gamma-Gamma model
        (sum(order_amount) - arg_min(order_amount, order_date)) / nullif(count(*) - 1, 0)
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
    from {{ ref('int_orders') }}
    where counted_lines > 0
    group by customer_key
)

select
    per_customer.*,
    {{ days_between('per_customer.last_order_date', as_of_date()) }} as recency_days,
    {{ days_between('per_customer.first_order_date', as_of_date()) }} as tenure_days,
    last_gap.gap_before_last_order_days,
    categories.ticket_lines,
    categories.workshop_lines,
    categories.merchandise_lines,
    categories.categories_bought
from per_customer
left join last_gap on per_customer.customer_key = last_gap.customer_key
left join categories on per_customer.customer_key = categories.customer_key
