-- Who the customer is: their CRM profile (the most recently updated CRM record when several merged), else what a
-- lead form told us, with their age on the run's day. Consent is int_customer_consent's.
with crm as (
    select
        map.customer_key,
        crm.*
    from {{ ref('stg_crm_customers') }} as crm
    inner join {{ ref('identity_map') }} as map on map.record_id = 'crm:' || crm.customer_id
    qualify row_number() over (partition by map.customer_key order by crm.updated_at desc, crm.customer_id asc) = 1
),

leads as (
    select
        map.customer_key,
        leads.*
    from {{ ref('stg_leads') }} as leads
    inner join {{ ref('identity_map') }} as map on map.record_id = 'lead:' || leads.lead_id
    qualify row_number() over (partition by map.customer_key order by leads.created_at desc, leads.lead_id asc) = 1
),

people as (
    select distinct customer_key
    from {{ ref('identity_map') }}
    -- a person is someone we can address or who bought: anonymous web visitors alone are not customers
    where source in ('crm_customers', 'leads', 'esp_events', 'erp_orders', 'service_tickets', 'nps_responses')
),

esp_email as (
    -- the address an ESP subscriber has, from the identity links (one row per address, not per event)
    select
        map.customer_key,
        max(links.identifier_value) as email
    from {{ ref('int_identity_links') }} as links
    inner join {{ ref('identity_map') }} as map on links.record_id = map.record_id
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
    case
        when crm.birth_date is not null then
            {{ full_years_between('crm.birth_date', as_of_date()) }}
    end as age
from people
left join crm on people.customer_key = crm.customer_key
left join leads on people.customer_key = leads.customer_key
left join esp_email on people.customer_key = esp_email.customer_key
