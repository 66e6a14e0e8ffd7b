-- One row per lead: the newest delivery of each lead_id, contact details normalised for matching.
select
    lead_id,
    {{ normalise_email('email') }} as email,
    {{ normalise_phone('phone') }} as phone,
    nullif(trim(first_name), '') as first_name,
    nullif(trim(last_name), '') as last_name,
    lower(nullif(trim(source), '')) as lead_source,
    nullif(trim(event_name), '') as event_name,
    lower(nullif(trim(interest), '')) as interest,
    created_at,
    coalesce(consent_email_marketing, false) as consent_email_marketing,
    consent_email_marketing_at
from {{ source('lake', 'leads') }}
qualify row_number() over (partition by lead_id order by load_date desc, _source_file desc) = 1
