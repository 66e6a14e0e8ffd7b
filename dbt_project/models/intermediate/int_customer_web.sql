-- Web behaviour per customer (known visitors only), with interests read from the pages they visit.
with web as (
    select
        map.customer_key,
        web.*,
        case
            when web.page_path like '/workshops%' then 'workshop'
            when web.page_path like '/voorstellingen%' or web.page_path like '/agenda%' then 'theatre'
            when web.page_path like '/magazine%' then 'magazine'
        end as interest
    from {{ ref('stg_ga4_web') }} as web
    inner join {{ ref('identity_map') }} as map on map.record_id = 'ga4:' || web.visitor_id
),

interests as (
    select
        customer_key,
        interest,
        sum(event_count) as views
    from web
    where interest is not null and event_name = 'page_view'
    group by customer_key, interest
)

select
    web.customer_key,
    sum(web.sessions) as web_sessions,
    sum(web.event_count) filter (where web.event_name = 'page_view') as web_page_views,
    sum(web.engagement_seconds) as web_engagement_seconds,
    max(web.visit_date) as last_visit_date,
    sum(web.sessions) filter (
        where web.visit_date > {{ as_of_date() }} - interval 90 day
    ) as web_sessions_last_90_days,
    sum(web.sessions) filter (
        where web.visit_date <= {{ as_of_date() }} - interval 90 day
        and web.visit_date > {{ as_of_date() }} - interval 365 day
    ) as web_sessions_prior_275_days,
    (
        select arg_max(interests.interest, interests.views)
        from interests
        where interests.customer_key = web.customer_key
    ) as top_web_interest
from web
group by web.customer_key
