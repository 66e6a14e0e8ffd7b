{{ config(materialized='table') }}
-- One row per lead: the newest delivery of each lead_id, contact details normalised for matching. Consent is
-- decided from the lake by int_customer_consent (macros/consent.sql), not here. A table: identity and the
-- profile both read it.
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
from {{ source('lake', 'leads') }}
qualify row_number() over (partition by lead_id order by load_date desc, _source_file desc) = 1
