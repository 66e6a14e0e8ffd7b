{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
-- One row per CRM customer: the newest version, contact details normalised for matching and sending. Consent is
-- decided from the lake by int_customer_consent (macros/consent.sql), not here.
-- Incremental: every version is read (the CRM is small next to the events), but a run writes again only the
-- customers whose newest version changed, stamped staged_at: identity and the profile look again at those. A
-- run after which no CRM file landed reads none (lake_source_if_landed).
with versions as (
    select
        *,
        row_number() over (
            partition by customer_id order by updated_at desc, load_date desc, _source_file desc
        ) as version_rank
    from {{ lake_source_if_landed('crm_customers') }}
),

cleaned as (
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
),

newest as (
    select
        *,
        hash(cleaned) as row_hash  -- the whole row: a changed value writes the customer again
    from cleaned
)

select
    changed.*,
    {{ run_stamp() }} as staged_at
from ({{ changed_rows('newest', 'customer_id') }}) as changed
