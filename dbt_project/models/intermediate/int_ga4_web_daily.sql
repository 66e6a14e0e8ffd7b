{{ config(
    materialized='incremental',
    unique_key='visit_date',
    partition_by='visit_date',
    incremental_strategy=incremental_strategy_for('days'),
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- Web behaviour per visitor and day, with page views per interest: the event-sized part of web engagement,
-- incremental by day like int_esp_events_daily.
select
    visit_date,
    visitor_id,
    sum(sessions) as sessions,
    sum(event_count) filter (where event_name = 'page_view') as page_views,
    sum(engagement_seconds) as engagement_seconds,
    sum(event_count) filter (
        where event_name = 'page_view' and page_path like '/workshops%'
    ) as workshop_page_views,
    sum(event_count) filter (
        where event_name = 'page_view' and (page_path like '/voorstellingen%' or page_path like '/agenda%')
    ) as theatre_page_views,
    sum(event_count) filter (where event_name = 'page_view' and page_path like '/magazine%') as magazine_page_views
from {{ ref('stg_ga4_web') }}
where {{ days_to_build('visit_date') }}
group by visit_date, visitor_id
