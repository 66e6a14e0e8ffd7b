-- Web behaviour per customer (known visitors only), rolled up from the daily visitor table (int_ga4_web_daily),
-- with the interest read from the pages they view most.
with per_customer as (
    select
        map.customer_key,
        sum(daily.sessions) as web_sessions,
        sum(daily.page_views) as web_page_views,
        sum(daily.engagement_seconds) as web_engagement_seconds,
        max(daily.visit_date) as last_visit_date,
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
    inner join {{ ref('identity_map') }} as map on map.record_id = 'ga4:' || daily.visitor_id
    group by map.customer_key
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
    end as top_web_interest
from per_customer
