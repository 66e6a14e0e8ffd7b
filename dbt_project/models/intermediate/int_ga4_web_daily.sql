{{ config(
    materialized='incremental',
    unique_key=['visit_date', 'visitor_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    tags=['daily'],
) }}
-- Web behaviour per visitor and day, with page views per interest: the event-sized part of web engagement,
-- built incrementally like int_esp_events_daily.
-- changed_at: when the row's values last changed; the per-customer facts look again at those rows only.
with days as (
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
    where
        visit_date <= {{ as_of_date() }}
        {% if is_incremental() %}
            and {{ incremental_window('visit_date') }}
        {% endif %}
    group by visit_date, visitor_id
),

hashed as (
    select
        *,
        hash(days) as row_hash
    from days
)

{{ stamp_changed('hashed', ['visit_date', 'visitor_id'], 'visit_date') }}
