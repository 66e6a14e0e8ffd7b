{{ config(materialized='table') }}
-- One row per CRM customer: the newest version, contact details normalised for matching and sending. Consent is
-- decided from the lake by int_customer_consent (macros/consent.sql), not here. A table: identity and the profile
-- both read it.
with versions as (
    select
        *,
        row_number() over (
            partition by customer_id order by updated_at desc, load_date desc, _source_file desc
        ) as version_rank
    from {{ source('lake', 'crm_customers') }}
)

select
    customer_id,
    {{ clean_text('first_name') }} as first_name,
    {{ clean_text('last_name') }} as last_name,
    {{ normalise_email('email') }} as email,
    {{ normalise_phone('phone', 'country') }} as phone,
    birth_date,
    upper(replace(postcode, ' ', '')) as postcode,
    {{ clean_text('city') }} as city,
    upper(coalesce(nullif(trim(country), ''), 'NL')) as country,
    household_partner,
    household_children,
    {{ iso_language('language') }} as language,
    created_at,
    updated_at
from versions
where version_rank = 1
