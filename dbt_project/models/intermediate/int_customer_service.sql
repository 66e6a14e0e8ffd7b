-- Service contacts, complaints and the latest NPS answer per customer.
with tickets as (
    select
        map.customer_key,
        count(*) as service_contacts,
        count(*) filter (where tickets.is_complaint) as complaints,
        avg(tickets.satisfaction) as average_satisfaction
    from {{ ref('stg_service_tickets') }} as tickets
    inner join {{ ref('identity_map') }} as map on map.record_id = 'ticket:' || tickets.ticket_id
    group by map.customer_key
),

nps as (
    select
        map.customer_key,
        max_by(nps.score, nps.responded_at) as last_nps_score,
        max_by(nps.nps_class, nps.responded_at) as last_nps_class,
        max(nps.responded_at) as last_nps_at
    from {{ ref('stg_nps_responses') }} as nps
    inner join {{ ref('identity_map') }} as map on map.record_id = 'nps:' || nps.response_id
    group by map.customer_key
)

select
    coalesce(tickets.customer_key, nps.customer_key) as customer_key,
    coalesce(tickets.service_contacts, 0) as service_contacts,
    coalesce(tickets.complaints, 0) as complaints,
    tickets.average_satisfaction,
    nps.last_nps_score,
    nps.last_nps_class,
    nps.last_nps_at
from tickets
full outer join nps on tickets.customer_key = nps.customer_key
