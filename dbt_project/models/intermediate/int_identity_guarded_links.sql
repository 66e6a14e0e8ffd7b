{{ config(
    materialized='incremental',
    unique_key='record_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{% set incremental = is_incremental_on('guarded_at') %}
-- The over-merge guard. An identifier that several *people* share (a family or office e-mail, a shared
-- phone) must not fuse them into one customer. It is not used to link when it appears on more CRM customers
-- than the var identity_max_crm_customers_per_identifier, or on more people (CRM customers and leads) than
-- identity_max_people_per_identifier. A CRM id always links: it names exactly one customer.
-- A nightly run takes in the records int_identity_links wrote since; an identifier they gained or lost may
-- now link, or stop linking, other records, so every record carrying such an identifier is written again.
with
{% if incremental %}
    changed_records as (
        select distinct record_id
        from {{ ref('int_identity_links') }}
        where linked_at > {{ seen_through('linked_at') }}
    ),

    touched_identifiers as (
        select
            new_links.identifier_type,
            new_links.identifier_value
        from {{ ref('int_identity_links') }} as new_links
        inner join changed_records on new_links.record_id = changed_records.record_id
        where new_links.identifier_value is not null
        union
        select
            old_links.identifier_type,
            old_links.identifier_value
        from {{ this }} as old_links
        inner join changed_records on old_links.record_id = changed_records.record_id
        where old_links.identifier_value is not null
    ),

    affected_records as (
        select record_id from changed_records
        union
        select links.record_id
        from {{ ref('int_identity_links') }} as links
        inner join touched_identifiers
            on
                links.identifier_type = touched_identifiers.identifier_type
                and links.identifier_value = touched_identifiers.identifier_value
    ),

    links as (
        select all_links.*
        from {{ ref('int_identity_links') }} as all_links
        inner join affected_records on all_links.record_id = affected_records.record_id
    ),

    used_identifiers as (
        select distinct
            identifier_type,
            identifier_value
        from links
    ),
{% else %}
    links as (
        select * from {{ ref('int_identity_links') }}
    ),
{% endif %}

usage as (
    select
        all_links.identifier_type,
        all_links.identifier_value,
        count(distinct all_links.record_id) filter (where all_links.source = 'crm_customers') as crm_customers,
        count(distinct all_links.record_id) filter (where all_links.source in ('crm_customers', 'leads')) as people,
        count(distinct all_links.record_id) as records
    from {{ ref('int_identity_links') }} as all_links
    {% if incremental %}
        inner join used_identifiers
            on
                all_links.identifier_type = used_identifiers.identifier_type
                and all_links.identifier_value = used_identifiers.identifier_value
    {% endif %}
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
    ) as is_blocked,
    links.linked_at,
    {{ run_stamp() }} as guarded_at
from links
left join usage
    on
        links.identifier_type = usage.identifier_type
        and links.identifier_value = usage.identifier_value
