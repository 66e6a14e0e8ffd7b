{{ config(
    materialized='incremental',
    unique_key='event_date',
    partition_by='event_date',
    incremental_strategy=incremental_strategy_for('days'),
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- One row per e-mail event, deduplicated across deliveries. Incremental by day (macros/incremental.sql): a
-- nightly run reads and deduplicates only the last days' events, and every model downstream reads this table
-- instead of deduplicating the whole history again.
select
    event_id,
    subscriber_id,
    {{ normalise_email('email') }} as email,
    lower(trim(event_type)) as event_type,
    event_at,
    cast(event_at as date) as event_date,
    nullif(trim(mailing_id), '') as mailing_id,
    nullif(trim(url), '') as url,
    nullif(trim(tracking_id), '') as tracking_id
from {{ source('lake', 'esp_events') }}
where {{ days_to_build('cast(event_at as date)') }}
qualify row_number() over (partition by event_id order by load_date desc, _source_file desc) = 1
