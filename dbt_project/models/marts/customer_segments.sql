-- Segments per customer. Each segment is one readable rule in segment_columns() (macros/customer_rules.sql): edit
-- it there, or its thresholds in dbt_project.yml.
-- A view: age bands and windows move with the day, and int_customer_360 stores the segments (1M customers:
-- 0.6-1.2 s a night for a second copy nobody else reads).
{{ config(materialized='view') }}

select
    profile.customer_key,
    {{ segment_columns() }}
from {{ ref('int_customer_profile') }} as profile
left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
left join {{ ref('int_customer_web') }} as web on profile.customer_key = web.customer_key
left join {{ ref('int_customer_email') }} as email on profile.customer_key = email.customer_key
left join {{ ref('ref_postcode_regions') }} as regions on profile.postcode4 = cast(regions.postcode4 as varchar)
