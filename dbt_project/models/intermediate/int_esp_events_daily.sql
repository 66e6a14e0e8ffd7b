{{ config(
    materialized='incremental',
    unique_key='event_date',
    partition_by='event_date',
    incremental_strategy=incremental_strategy_for('days'),
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- E-mail events per subscriber and day: the event-sized part of e-mail engagement, incremental by day
-- (macros/incremental.sql): a nightly run rebuilds the last days (late events included), a Dagster backfill
-- the days of its partition range; `dbt build --full-refresh` gives the same table.
select
    event_date,
    subscriber_id,
    count(*) filter (where event_type = 'send') as sends,
    count(*) filter (where event_type = 'open') as opens,
    count(*) filter (where event_type = 'click') as clicks,
    count(*) filter (where event_type = 'unsubscribe') as unsubscribes,
    count(*) filter (where event_type in ('bounce', 'spam_complaint')) as bounces_and_complaints,
    max(event_at) filter (where event_type = 'click') as last_click_at
from {{ ref('stg_esp_events') }}
where {{ days_to_build('event_date') }}
group by event_date, subscriber_id
