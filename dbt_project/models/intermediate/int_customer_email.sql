-- E-mail engagement per customer, from the ESP's events.
select
    map.customer_key,
    count(*) filter (where events.event_type = 'send') as emails_sent,
    count(*) filter (where events.event_type = 'open') as email_opens,
    count(*) filter (where events.event_type = 'click') as email_clicks,
    count(*) filter (
        where events.event_type = 'click' and events.event_date > {{ as_of_date() }} - interval 90 day
    ) as email_clicks_last_90_days,
    count(*) filter (
        where events.event_type = 'click'
        and events.event_date <= {{ as_of_date() }} - interval 90 day
        and events.event_date > {{ as_of_date() }} - interval 365 day
    ) as email_clicks_prior_275_days,
    max(events.event_at) filter (where events.event_type = 'click') as last_email_click_at,
    bool_or(events.event_type = 'unsubscribe') as has_unsubscribed,
    bool_or(events.event_type in ('bounce', 'spam_complaint')) as has_bounced_or_complained
from {{ ref('stg_esp_events') }} as events
inner join {{ ref('identity_map') }} as map on map.record_id = 'esp:' || events.subscriber_id
group by map.customer_key
