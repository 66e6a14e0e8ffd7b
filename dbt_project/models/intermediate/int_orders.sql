-- One row per order with the customer it belongs to: what the customer metrics and the lifecycle KPIs count,
-- joined to identity once. Amount, first day and categories are over completed and refunded lines (net of
-- refunds; cancelled lines left out); the line counts per category over completed lines only.
with lines as (
    select
        map.customer_key,
        lines.*,
        lines.status in ('completed', 'refunded') as is_counted
    from {{ ref('stg_erp_order_lines') }} as lines
    inner join {{ ref('identity_map') }} as map on map.record_id = 'order:' || lines.order_id
)

select
    order_id,
    any_value(customer_key) as customer_key,
    count(*) filter (where is_counted) as counted_lines,
    min(order_date) filter (where is_counted) as order_date,
    coalesce(sum(line_amount) filter (where is_counted), 0) as order_amount,
    array_sort(array_agg(distinct category) filter (where is_counted)) as categories,
    count(*) filter (where category = 'ticket' and status = 'completed') as ticket_lines,
    count(*) filter (where category = 'workshop' and status = 'completed') as workshop_lines,
    count(*) filter (where category = 'merchandise' and status = 'completed') as merchandise_lines
from lines
group by order_id
