{{ config(
    materialized='incremental',
    unique_key='visit_date',
    incremental_strategy='delete+insert',
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- GA4 report rows: one per day, visitor, source/medium, page and event. Each day's partition is replaced
-- whole on every fetch, so the lake holds no duplicates to remove; a nightly run replaces the last days here.
select
    date as visit_date,
    visitor_id,
    session_source_medium,
    trim(split_part(session_source_medium, '/', 1)) as session_source,
    trim(split_part(session_source_medium, '/', 2)) as session_medium,
    page_path,
    event_name,
    event_count,
    sessions,
    engagement_seconds,
    {{ run_stamp() }} as staged_at  -- when this row was (re)written: what identity looks at again
from {{ source('lake', 'ga4_web') }}
where
    visitor_id <> '(not set)'
    and date <= {{ as_of_date() }}
    {% if is_incremental() %}
        and {{ incremental_window('date') }}
    {% endif %}
