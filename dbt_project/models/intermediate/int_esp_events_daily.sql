{{ config(
    materialized='incremental',
    unique_key=['event_date', 'subscriber_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- E-mail events per subscriber and day: the event-sized part of e-mail engagement, built incrementally.
-- A nightly run rebuilds only the last incremental_lookback_days days before as_of_date (late events
-- included), a Dagster backfill the days of its partition range; `dbt build --full-refresh` rebuilds all
-- of it and gives the same table.
-- changed_at: when the row's values last changed; the per-customer facts look again at those rows only.
with days as (
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
    where
        event_date <= {{ as_of_date() }}
        {% if is_incremental() %}
            and {{ incremental_window('event_date') }}
        {% endif %}
    group by event_date, subscriber_id
),

hashed as (
    select
        *,
        hash(days) as row_hash
    from days
)

{{ stamp_changed('hashed', ['event_date', 'subscriber_id'], 'event_date') }}
