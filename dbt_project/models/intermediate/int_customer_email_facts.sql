{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_customers_to_refresh(customers_with_changed_email()) }}",
) }}
-- E-mail engagement per customer, rolled up from the daily subscriber table. Kept incrementally: a nightly run
-- writes again the customers with e-mail days changed since, an identity change, or clicks leaving the last
-- 90 or 365 days (macros/customer_facts.sql).
with subscribers as (
    {{ customer_records('esp_events', 'subscriber_id', customers_with_changed_email()) }}
),

daily as (
    select
        subscribers.customer_key,
        days.*
    from {{ ref('int_esp_events_daily') }} as days
    inner join subscribers on days.subscriber_id = subscribers.subscriber_id
)

select
    customer_key,
    sum(sends) as emails_sent,
    sum(opens) as email_opens,
    sum(clicks) as email_clicks,
    -- 0 rather than null without events in the window: a row leaving it then changes nothing
    coalesce(sum(clicks) filter (where event_date > {{ days_before(as_of_date(), 90) }}), 0)
        as email_clicks_last_90_days,
    coalesce(sum(clicks) filter (
        where event_date <= {{ days_before(as_of_date(), 90) }} and event_date > {{ days_before(as_of_date(), 365) }}
    ), 0) as email_clicks_prior_275_days,
    max(last_click_at) as last_email_click_at,
    sum(unsubscribes) > 0 as has_unsubscribed,
    sum(bounces_and_complaints) > 0 as has_bounced_or_complained,
    {{ as_of_date() }} as as_of_date,
    {{ run_stamp() }} as built_at
from daily
group by customer_key
