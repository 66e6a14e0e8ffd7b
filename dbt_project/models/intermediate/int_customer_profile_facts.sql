{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_customers_to_refresh(customers_with_changed_profile()) }}",
) }}
-- Who the customer is: their CRM profile (the most recently updated CRM record when several merged),
-- else what a lead form told us. Consent is int_customer_consent's. int_customer_profile adds the age.
-- Kept incrementally: a nightly run writes again the customers with a CRM record or lead staged since, a
-- changed e-mail link, or an identity change (macros/customer_facts.sql).
with customers as (
    select
        records.record_id,
        records.source,
        records.customer_key
    from {{ ref('identity_map') }} as records
    where {{ to_refresh('records.customer_key', customers_with_changed_profile()) }}
),

crm as (
    select
        map.customer_key,
        crm.* exclude (row_hash, staged_at)  -- noqa: RF02
    from {{ ref('stg_crm_customers') }} as crm
    inner join customers as map on map.record_id = 'crm:' || crm.customer_id
    qualify row_number() over (partition by map.customer_key order by crm.updated_at desc, crm.customer_id asc) = 1
),

leads as (
    select
        map.customer_key,
        leads.* exclude (row_hash, staged_at)  -- noqa: RF02
    from {{ ref('stg_leads') }} as leads
    inner join customers as map on map.record_id = 'lead:' || leads.lead_id
    qualify row_number() over (partition by map.customer_key order by leads.created_at desc, leads.lead_id asc) = 1
),

people as (
    select distinct customer_key
    from customers
    -- a person is someone we can address or who bought: anonymous web visitors alone are not customers
    where source in ('crm_customers', 'leads', 'esp_events', 'erp_orders', 'service_tickets', 'nps_responses')
),

esp_email as (
    -- the address an ESP subscriber has, from the identity links (one row per address, not per event)
    select
        map.customer_key,
        max(links.identifier_value) as email
    from {{ ref('int_identity_links') }} as links
    inner join customers as map on links.record_id = map.record_id
    where links.source = 'esp_events' and links.identifier_type = 'email'
    group by map.customer_key
)

select
    people.customer_key,
    crm.customer_id as crm_customer_id,
    crm.customer_id is not null as is_crm_customer,
    coalesce(crm.first_name, leads.first_name) as first_name,
    coalesce(crm.last_name, leads.last_name) as last_name,
    coalesce(crm.email, leads.email, esp_email.email) as email,
    coalesce(crm.phone, leads.phone) as phone,
    crm.birth_date,
    crm.postcode,
    left(crm.postcode, 4) as postcode4,
    crm.city,
    crm.country,
    crm.household_partner,
    crm.household_children,
    coalesce(crm.language, 'nl') as language,
    coalesce(crm.created_at, leads.created_at) as first_known_at,
    -- core profile: what every campaign needs; nice-to-know: what makes it personal
    (
        (coalesce(crm.email, leads.email) is not null)::int
        + (coalesce(crm.first_name, leads.first_name) is not null)::int
        + (coalesce(crm.last_name, leads.last_name) is not null)::int
        + (crm.postcode is not null)::int
        + (crm.birth_date is not null)::int
    ) / 5.0 as core_profile_completeness,
    (
        (coalesce(crm.phone, leads.phone) is not null)::int
        + (crm.household_partner is not null)::int
        + (crm.household_children is not null)::int
        + (crm.language is not null)::int
    ) / 4.0 as nice_to_know_completeness,
    {{ run_stamp() }} as built_at
from people
left join crm on people.customer_key = crm.customer_key
left join leads on people.customer_key = leads.customer_key
left join esp_email on people.customer_key = esp_email.customer_key
