{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- One row per e-mail event, deduplicated across deliveries. Kept as an incremental table: a nightly run reads
-- and deduplicates only the last days' events (incremental_window), and every model downstream reads this
-- table instead of deduplicating the whole history again.
select
    event_id,
    subscriber_id,
    {{ normalise_email('email') }} as email,
    lower(trim(event_type)) as event_type,
    event_at,
    cast(event_at as date) as event_date,
    nullif(trim(mailing_id), '') as mailing_id,
    nullif(trim(url), '') as url,
    nullif(trim(tracking_id), '') as tracking_id,
    {{ run_stamp() }} as staged_at  -- when this row was (re)written: what identity looks at again
from {{ source('lake', 'esp_events') }}
where
    cast(event_at as date) <= {{ as_of_date() }}
    {% if is_incremental() %}
        and {{ incremental_window('cast(event_at as date)') }}
    {% endif %}
qualify row_number() over (partition by event_id order by load_date desc, _source_file desc) = 1
