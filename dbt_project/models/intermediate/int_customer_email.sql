-- E-mail engagement per customer, rolled up from the daily subscriber table (int_esp_events_daily).
with daily as (
    select
        map.customer_key,
        days.*
    from {{ ref('int_esp_events_daily') }} as days
    inner join {{ ref('identity_map') }} as map on map.record_id = 'esp:' || days.subscriber_id
)

select
    customer_key,
    sum(sends) as emails_sent,
    sum(opens) as email_opens,
    sum(clicks) as email_clicks,
    coalesce(sum(clicks) filter (where event_date > {{ days_before(as_of_date(), 90) }}), 0)
        as email_clicks_last_90_days,
    coalesce(sum(clicks) filter (
        where event_date <= {{ days_before(as_of_date(), 90) }} and event_date > {{ days_before(as_of_date(), 365) }}
    ), 0) as email_clicks_prior_275_days,
    max(last_click_at) as last_email_click_at,
    sum(unsubscribes) > 0 as has_unsubscribed,
    sum(bounces_and_complaints) > 0 as has_bounced_or_complained
from daily
group by customer_key
