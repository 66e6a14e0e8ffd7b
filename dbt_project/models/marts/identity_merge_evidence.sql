{{ config(materialized='view') }}
-- Why records were merged, or kept apart: per identifier, the records it touched and whether it linked them.
-- An analyst asking "why are these two one customer?" finds the identifier here.
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
    array_sort(array_agg(distinct links.record_id)) as record_ids
from {{ ref('int_identity_guarded_links') }} as links
inner join {{ ref('identity_map') }} as customers on links.record_id = customers.record_id
where
    links.identifier_value is not null
    -- identifiers on one record only explain nothing; leaving them out first saves most of the work
    and (links.records_sharing_identifier > 1 or links.is_blocked)
group by all
having count(distinct links.record_id) > 1 or bool_or(links.is_blocked)
