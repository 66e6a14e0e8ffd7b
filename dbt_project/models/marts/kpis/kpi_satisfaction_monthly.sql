-- Satisfaction per month, touchpoint and lifecycle stage: NPS (% promoters - % detractors) and complaints.
with answers as (
    select
        {{ month_of('nps.responded_at') }} as month,
        nps.touchpoint,
        coalesce(customers.lifecycle_stage, 'unknown') as lifecycle_stage,
        nps.nps_class
    from {{ ref('stg_nps_responses') }} as nps
    left join {{ ref('identity_map') }} as map on map.record_id = 'nps:' || nps.response_id
    left join {{ ref('customer_360') }} as customers on map.customer_key = customers.customer_key
),

nps as (
    select
        month,
        touchpoint,
        lifecycle_stage,
        count(*) as responses,
        100.0 * (count(*) filter (where nps_class = 'promoter') - count(*) filter (where nps_class = 'detractor'))
        / count(*) as nps
    from answers
    group by month, touchpoint, lifecycle_stage
),

complaints as (
    select
        {{ month_of('opened_at') }} as month,
        count(*) as service_contacts,
        count(*) filter (where is_complaint) as complaints
    from {{ ref('stg_service_tickets') }}
    group by {{ month_of('opened_at') }}
)

select
    nps.month,
    nps.touchpoint,
    nps.lifecycle_stage,
    nps.responses,
    nps.nps,
    complaints.service_contacts as service_contacts_in_month,
    complaints.complaints as complaints_in_month,
    complaints.complaints / nullif(complaints.service_contacts, 0) as complaint_rate_in_month
from nps
left join complaints on nps.month = complaints.month
