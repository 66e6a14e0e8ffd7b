{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{% if is_incremental_on('resolved_at') %}
        delete from {{ this }} where customer_key in (
            {{ customers_identity_wrote(seen_through('resolved_at')) }}
        )
    {% endif %}",
) }}
{% set incremental = is_incremental_on('resolved_at') %}
-- Why records were merged, or kept apart: per identifier, the records it touched and whether it linked them.
-- An analyst asking "why are these two one customer?" finds the identifier here. A nightly run writes again
-- the customers with a record identity_map wrote since. Their old rows go first, as a customer can lose all
-- of them, merged-away customers' too: such a customer keeps no record, but its anchor record was written
-- again, and its key is that record's hash.
with
{% if incremental %}
    changed_customers as (
        select distinct changed.customer_key
        from {{ ref('identity_map') }} as changed
        where changed.resolved_at > {{ seen_through('resolved_at') }}
    ),

    customers as (
        select
            map.record_id,
            map.customer_key,
            map.resolved_at
        from {{ ref('identity_map') }} as map
        semi join changed_customers on map.customer_key = changed_customers.customer_key
    ),

    links as (
        -- the changed customers' links first: joined the other way round, every link was scanned and hashed
        select all_links.*
        from {{ ref('int_identity_guarded_links') }} as all_links
        semi join customers on all_links.record_id = customers.record_id
    )
{% else %}
    customers as (
        select
            record_id,
            customer_key,
            resolved_at
        from {{ ref('identity_map') }}
    ),

    links as (
        select * from {{ ref('int_identity_guarded_links') }}
    )
{% endif %}

select
    customers.customer_key,
    links.identifier_type,
    links.identifier_value,
    links.is_blocked,
    case
        when links.is_blocked
            then 'not used: shared by ' || links.people_sharing_identifier || ' people'
        else 'linked'
    end as decision,
    count(distinct links.record_id) as records,
    array_agg(distinct links.record_id order by links.record_id) as record_ids,
    max(customers.resolved_at) as resolved_at
from links
inner join customers on links.record_id = customers.record_id
where
    links.identifier_value is not null
    -- identifiers on one record only explain nothing; leaving them out first saves most of the work
    and (links.records_sharing_identifier > 1 or links.is_blocked)
group by all
having count(distinct links.record_id) > 1 or bool_or(links.is_blocked)
