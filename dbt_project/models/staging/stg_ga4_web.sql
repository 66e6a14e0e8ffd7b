{{ config(
    materialized='incremental',
    unique_key='visit_date',
    partition_by='visit_date',
    incremental_strategy=incremental_strategy_for('days'),
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- GA4 report rows: one per day, visitor, source/medium, page and event. Each day's partition is replaced
-- whole on every fetch, so the lake holds no duplicates to remove. Incremental by day (macros/incremental.sql).
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
    engagement_seconds
from {{ source('lake', 'ga4_web') }}
where
    visitor_id <> '(not set)'
    and {{ days_to_build('date') }}
