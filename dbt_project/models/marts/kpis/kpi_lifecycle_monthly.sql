-- Lifecycle KPIs per month: acquisition, repeat buying, cross-sell and win-back, with the revenue behind them.
with orders as (
    select
        customer_key,
        order_id,
        order_date,
        order_amount,
        categories
    from {{ ref('int_orders') }}
    where order_amount > 0  -- net of refunds; an order of cancelled lines only has 0
),

sequenced as (
    select
        *,
        {{ month_of('order_date') }} as order_month,
        row_number() over (partition by customer_key order by order_date, order_id) as order_number,
        order_date - lag(order_date) over (partition by customer_key order by order_date, order_id) as gap_days
    from orders
),

category_purchases as (
    select
        customer_key,
        order_month,
        unnest(categories) as category
    from sequenced
),

first_category as (
    -- the month each customer first bought in each category, numbered in the order they came
    select
        customer_key,
        category,
        min(order_month) as first_month,
        row_number() over (partition by customer_key order by min(order_month), category) as category_number
    from category_purchases
    group by customer_key, category
),

cross_sold as (
    select
        first_month as order_month,
        count(distinct customer_key) as cross_sold_customers
    from first_category
    where category_number > 1
    group by first_month
)

select
    sequenced.order_month,
    count(distinct sequenced.customer_key) as buying_customers,
    count(distinct sequenced.customer_key) filter (where sequenced.order_number = 1) as new_customers,
    count(distinct sequenced.customer_key) filter (where sequenced.order_number > 1) as repeat_customers,
    count(distinct sequenced.customer_key) filter (
        where sequenced.gap_days >= {{ var('lifecycle_winback_gap_days') }}
    ) as won_back_customers,
    coalesce(any_value(cross_sold.cross_sold_customers), 0) as cross_sold_customers,
    count(*) as orders,
    sum(sequenced.order_amount) as revenue,
    sum(sequenced.order_amount) / count(*) as average_order_value
from sequenced
left join cross_sold on sequenced.order_month = cross_sold.order_month
group by sequenced.order_month
