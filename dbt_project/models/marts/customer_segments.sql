-- Segments per customer. Each segment is one readable rule in segment_columns() (macros/customer_rules.sql): edit
-- it there, or its thresholds in dbt_project.yml.
-- A view: int_customer_360 stores the segments, and a second copy would be one more table to keep in step.
{{ config(materialized='view') }}

select
    profile.customer_key,
    {{ segment_columns() }}
from {{ ref('int_customer_profile') }} as profile
left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
left join {{ ref('int_customer_web') }} as web on profile.customer_key = web.customer_key
left join {{ ref('int_customer_email') }} as email on profile.customer_key = email.customer_key
left join {{ ref('ref_postcode_regions') }} as regions on profile.postcode4 = cast(regions.postcode4 as string)
