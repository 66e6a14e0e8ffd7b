-- Lifecycle stage per customer, from their orders. Thresholds are dbt vars (dbt_project.yml), checked in
-- this order: prospect, won back, new, loyal, active, at risk, lapsed.
-- A view: the stage moves with the day for everyone, and customer_360 stores it (1M customers: 0.2-0.6 s a
-- night for a second copy nobody else reads).
{{ config(materialized='view') }}

select
    profile.customer_key,
    case
        when orders.orders is null then 'prospect'
        when
            orders.recency_days <= {{ var('lifecycle_new_days') }}
            and orders.gap_before_last_order_days >= {{ var('lifecycle_winback_gap_days') }} then 'won_back'
        when orders.tenure_days <= {{ var('lifecycle_new_days') }} then 'new'
        when
            orders.recency_days <= {{ var('lifecycle_active_days') }}
            and orders.orders_last_365_days >= {{ var('lifecycle_loyal_min_orders') }} then 'loyal'
        when orders.recency_days <= {{ var('lifecycle_active_days') }} then 'active'
        when orders.recency_days <= {{ var('lifecycle_lapsed_days') }} then 'at_risk'
        else 'lapsed'
    end as lifecycle_stage
from {{ ref('int_customer_profile') }} as profile
left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
