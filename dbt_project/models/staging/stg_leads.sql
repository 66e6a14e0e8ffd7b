{{ config(
    materialized='incremental',
    unique_key='lead_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
-- One row per lead: the newest delivery of each lead_id, contact details normalised for matching. Consent is
-- decided from the lake by int_customer_consent (macros/consent.sql), not here.
-- Incremental like stg_crm_customers: a run writes again only the leads whose newest delivery changed.
with cleaned as (
    select
        lead_id,
        {{ normalise_email('email') }} as email,
        {{ normalise_phone('phone') }} as phone,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        lower(nullif(trim(source), '')) as lead_source,
        {{ clean_text('event_name') }} as event_name,
        lower(nullif(trim(interest), '')) as interest,
        created_at
    from {{ lake_source_if_landed('leads') }}
    qualify row_number() over (partition by lead_id order by load_date desc, _source_file desc) = 1
),

newest as (
    select
        *,
        hash(cleaned) as row_hash  -- the whole row: a changed value writes the lead again
    from cleaned
)

select
    changed.*,
    {{ run_stamp() }} as staged_at
from ({{ changed_rows('newest', 'lead_id') }}) as changed
