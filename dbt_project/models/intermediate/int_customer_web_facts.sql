{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_customers_to_refresh(customers_with_changed_web()) }}",
) }}
-- Web behaviour per customer (known visitors only), with the interest read from the pages they view most.
-- Kept incrementally: a nightly run writes again the customers with web days changed since, an identity
-- change, or sessions leaving the last 90 or 365 days (macros/customer_facts.sql).
with visitors as (
    {{ customer_records('ga4_web', 'visitor_id', customers_with_changed_web()) }}
),

per_customer as (
    select
        visitors.customer_key,
        sum(daily.sessions) as web_sessions,
        sum(daily.page_views) as web_page_views,
        sum(daily.engagement_seconds) as web_engagement_seconds,
        max(daily.visit_date) as last_visit_date,
        -- 0 rather than null without visits in the window: a day without sessions leaving it changes nothing
        coalesce(sum(daily.sessions) filter (
            where daily.visit_date > {{ days_before(as_of_date(), 90) }}
        ), 0) as web_sessions_last_90_days,
        coalesce(sum(daily.sessions) filter (
            where daily.visit_date <= {{ days_before(as_of_date(), 90) }}
            and daily.visit_date > {{ days_before(as_of_date(), 365) }}
        ), 0) as web_sessions_prior_275_days,
        coalesce(sum(daily.theatre_page_views), 0) as theatre_views,
        coalesce(sum(daily.workshop_page_views), 0) as workshop_views,
        coalesce(sum(daily.magazine_page_views), 0) as magazine_views
    from {{ ref('int_ga4_web_daily') }} as daily
    inner join visitors on daily.visitor_id = visitors.visitor_id
    group by visitors.customer_key
)

select
    customer_key,
    web_sessions,
    web_page_views,
    web_engagement_seconds,
    last_visit_date,
    web_sessions_last_90_days,
    web_sessions_prior_275_days,
    case
        when greatest(theatre_views, workshop_views, magazine_views) = 0 then null
        when theatre_views >= workshop_views and theatre_views >= magazine_views then 'theatre'
        when workshop_views >= magazine_views then 'workshop'
        else 'magazine'
    end as top_web_interest,
    {{ as_of_date() }} as as_of_date,
    {{ run_stamp() }} as built_at
from per_customer
