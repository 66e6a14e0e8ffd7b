{{ config(
    materialized='incremental',
    incremental_strategy='append',
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- Each combination of subscriber, e-mail address and tracking id that e-mail events carry, once. Identity reads
-- this instead of every event: a run looks at its days' events (macros/incremental.sql) and adds the
-- combinations it has not seen before, so any range of days, in any order, ends with the set a full refresh
-- makes.
with seen as (
    select distinct
        subscriber_id,
        email,
        tracking_id
    from {{ ref('stg_esp_events') }}
    where {{ days_to_build('event_date') }}
)

select
    subscriber_id,
    email,
    tracking_id
from seen
{% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as known
        where
            known.subscriber_id is not distinct from seen.subscriber_id
            and known.email is not distinct from seen.email
            and known.tracking_id is not distinct from seen.tracking_id
    )
{% endif %}
