{{ config(
    materialized='incremental',
    incremental_strategy='append',
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- Every visitor id GA4 has reported, once. Identity reads this instead of every GA4 row: a run looks at its
-- days (macros/incremental.sql) and adds the visitors it has not seen before.
with seen as (
    select distinct visitor_id
    from {{ ref('stg_ga4_web') }}
    where {{ days_to_build('visit_date') }}
)

select visitor_id
from seen
{% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as known
        where known.visitor_id = seen.visitor_id
    )
{% endif %}
