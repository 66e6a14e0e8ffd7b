-- Lifecycle KPIs per month: acquisition, repeat buying, cross-sell and win-back, with the revenue behind them.
-- Counted from int_customer_months, one row per customer and month they bought in.
select
    order_month,
    count(*) as buying_customers,
    count(*) filter (where has_first_order) as new_customers,
    count(*) filter (where has_repeat_order) as repeat_customers,
    count(*) filter (where longest_gap_days >= {{ var('lifecycle_winback_gap_days') }}) as won_back_customers,
    count(*) filter (where is_cross_sold) as cross_sold_customers,
    sum(orders) as orders,
    sum(revenue) as revenue,
    sum(revenue) / sum(orders) as average_order_value
from {{ ref('int_customer_months') }}
group by order_month
