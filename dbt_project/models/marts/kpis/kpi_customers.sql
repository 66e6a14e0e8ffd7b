-- Customer-level KPIs as of the run's day: one row.
select
    {{ as_of_date() }} as as_of_date,
    count(*) as customers,
    count(*) filter (where orders > 0) as buyers,
    avg(average_order_value) filter (where orders > 0) as average_order_value,
    avg(orders_last_365_days) filter (where orders_last_365_days > 0) as orders_per_active_buyer_365_days,
    avg(consent_email_marketing::int) as email_opt_in_share,
    avg(is_crm_customer::int) as account_share,
    avg(predicted_clv) filter (where orders > 0) as average_predicted_clv,
    avg(core_profile_completeness) as average_core_profile_completeness
from {{ ref('customer_360') }}
