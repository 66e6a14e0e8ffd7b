{{ config(
    materialized='incremental',
    unique_key='event_month',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{% set incremental = is_incremental_on('staged_at') %}
-- E-mail KPIs per month and mailing: sends, opens, clicks, unsubscribes and their rates.
-- Incremental by month: a run recounts only the months with e-mail events staged since its last run (the
-- current month on a normal night; a backfill's months after one), each month whole.
{% if incremental %}
    with months as (
        select distinct {{ month_of('event_date') }} as event_month
        from {{ ref('stg_esp_events') }}
        where staged_at > {{ seen_through('staged_at') }}
    ),

    events as (
        select events.*
        from {{ ref('stg_esp_events') }} as events
        where
            events.event_date >= (select min(months.event_month) from months)
            and {{ month_of('events.event_date') }} in (select months.event_month from months)
    )
{% else %}
    with events as (
        select * from {{ ref('stg_esp_events') }}
    )
{% endif %}

select
    {{ month_of('event_date') }} as event_month,
    mailing_id,
    count(*) filter (where event_type = 'send') as sends,
    count(distinct subscriber_id) filter (where event_type = 'open') as unique_opens,
    count(distinct subscriber_id) filter (where event_type = 'click') as unique_clicks,
    count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
    count(*) filter (where event_type in ('bounce', 'spam_complaint')) as bounces_and_complaints,
    count(distinct subscriber_id) filter (where event_type = 'open')
    / nullif(count(*) filter (where event_type = 'send'), 0) as open_rate,
    count(distinct subscriber_id) filter (where event_type = 'click')
    / nullif(count(*) filter (where event_type = 'send'), 0) as click_rate,
    max(staged_at) as staged_at
from events
group by {{ month_of('event_date') }}, mailing_id
