{{ config(
    materialized='incremental',
    unique_key='visit_date',
    partition_by='visit_date',
    incremental_strategy=incremental_strategy_for('days'),
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- Web KPIs per day and source/medium (GA4): sessions, page views, engagement time, workshop sign-ups.
-- Incremental by day (macros/incremental.sql).
select
    visit_date,
    session_source_medium,
    sum(sessions) as sessions,
    sum(event_count) filter (where event_name = 'page_view') as page_views,
    sum(engagement_seconds) as engagement_seconds,
    sum(engagement_seconds) / nullif(sum(sessions), 0) as engagement_seconds_per_session,
    sum(event_count) filter (where event_name = 'workshop_signup_start') as workshop_signups_started,
    sum(event_count) filter (where event_name = 'workshop_signup_complete') as workshop_signups_completed
from {{ ref('stg_ga4_web') }}
where {{ days_to_build('visit_date') }}
group by visit_date, session_source_medium
