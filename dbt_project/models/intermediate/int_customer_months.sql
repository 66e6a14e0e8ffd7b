-- One row per customer and month they bought in (is_purchase): what kpi_lifecycle_monthly counts.
with orders as (
    select
        customer_key,
        order_id,
        order_date,
        order_amount,
        categories
    from {{ ref('int_orders') }}
    where {{ is_purchase() }}
),

sequenced as (
    select
        *,
        {{ month_of('order_date') }} as order_month,
        row_number() over (partition by customer_key order by order_date, order_id) as order_number,
        {{ days_between(
            'lag(order_date) over (partition by customer_key order by order_date, order_id)', 'order_date'
        ) }} as gap_days
    from orders
),

category_purchases as (
    select
        customer_key,
        order_month,
        {{ unnest_rows('categories') }} as category
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
    select distinct
        customer_key,
        first_month as order_month
    from first_category
    where category_number > 1
)

select
    sequenced.customer_key,
    sequenced.order_month,
    count(*) as orders,
    sum(sequenced.order_amount) as revenue,
    bool_or(sequenced.order_number = 1) as has_first_order,
    bool_or(sequenced.order_number > 1) as has_repeat_order,
    max(sequenced.gap_days) as longest_gap_days,
    bool_or(cross_sold.customer_key is not null) as is_cross_sold
from sequenced
left join cross_sold
    on sequenced.customer_key = cross_sold.customer_key and sequenced.order_month = cross_sold.order_month
group by sequenced.customer_key, sequenced.order_month
