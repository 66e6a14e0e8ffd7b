-- E-mail engagement per customer, rolled up from the daily subscriber table.
select
    map.customer_key,
    sum(daily.sends) as emails_sent,
    sum(daily.opens) as email_opens,
    sum(daily.clicks) as email_clicks,
    sum(daily.clicks) filter (
        where daily.event_date > {{ days_before(as_of_date(), 90) }}
    ) as email_clicks_last_90_days,
    sum(daily.clicks) filter (
        where daily.event_date <= {{ days_before(as_of_date(), 90) }}
        and daily.event_date > {{ days_before(as_of_date(), 365) }}
    ) as email_clicks_prior_275_days,
    max(daily.last_click_at) as last_email_click_at,
    sum(daily.unsubscribes) > 0 as has_unsubscribed,
    sum(daily.bounces_and_complaints) > 0 as has_bounced_or_complained
from {{ ref('int_esp_events_daily') }} as daily
inner join {{ ref('identity_map') }} as map on map.record_id = 'esp:' || daily.subscriber_id
group by map.customer_key
