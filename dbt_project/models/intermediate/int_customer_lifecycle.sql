-- Lifecycle stage per customer, from their orders; the rule is lifecycle_stage() in macros/customer_rules.sql.
-- A view: int_customer_360 stores the stage, and a second copy would be one more table to keep in step.
{{ config(materialized='view') }}

select
    profile.customer_key,
    {{ lifecycle_stage() }} as lifecycle_stage
from {{ ref('int_customer_profile') }} as profile
left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
