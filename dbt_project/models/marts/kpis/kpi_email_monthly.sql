{{ config(
    materialized='incremental',
    unique_key='event_month',
    partition_by='event_month',
    incremental_strategy=incremental_strategy_for('days'),
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- E-mail KPIs per month and mailing: sends, opens, clicks, unsubscribes and their rates.
-- Incremental by month (macros/incremental.sql): a run counts again, whole, the months of the days it rebuilds,
-- over every day stg_esp_events holds of them (a backfill's later days too).
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
    / nullif(count(*) filter (where event_type = 'send'), 0) as click_rate
from {{ ref('stg_esp_events') }}
{% if is_incremental() %}
    where event_date >= {{ month_of(incremental_first_day()) }}
{% endif %}
group by {{ month_of('event_date') }}, mailing_id
