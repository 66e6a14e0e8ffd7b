{{ config(**parquet_handoff()) }}
-- The over-merge guard. An identifier that several *people* share (a family or office e-mail, a shared
-- phone) must not fuse them into one customer. It is not used to link when it appears on more CRM customers
-- than the var identity_max_crm_customers_per_identifier, or on more people (CRM customers and leads) than
-- identity_max_people_per_identifier. A CRM id always links: it names exactly one customer.
with usage as (
    select
        all_links.identifier_type,
        all_links.identifier_value,
        count(distinct all_links.record_id) filter (where all_links.source = 'crm_customers') as crm_customers,
        count(distinct all_links.record_id) filter (where all_links.source in ('crm_customers', 'leads')) as people,
        count(distinct all_links.record_id) as records
    from {{ ref('int_identity_links') }} as all_links
    where all_links.identifier_value is not null
    group by all_links.identifier_type, all_links.identifier_value
)

select
    links.record_id,
    links.source,
    links.source_key,
    links.identifier_type,
    links.identifier_value,
    coalesce(usage.people, 0) as people_sharing_identifier,
    coalesce(usage.records, 0) as records_sharing_identifier,
    coalesce(
        links.identifier_type <> 'crm_id'
        and (
            usage.crm_customers > {{ var('identity_max_crm_customers_per_identifier') }}
            or usage.people > {{ var('identity_max_people_per_identifier') }}
        ),
        false
    ) as is_blocked
from {{ ref('int_identity_links') }} as links
left join usage
    on
        links.identifier_type = usage.identifier_type
        and links.identifier_value = usage.identifier_value
