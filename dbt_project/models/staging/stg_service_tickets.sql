-- One row per service ticket: the newest delivery.
select
    ticket_id,
    nullif(trim(customer_id), '') as customer_id,
    {{ normalise_email('email') }} as email,
    opened_at,
    lower(trim(channel)) as channel,
    lower(trim(category)) as category,
    is_complaint,
    satisfaction,
    resolution_hours,
    lower(trim(status)) as status
from {{ source('lake', 'service_tickets') }}
qualify row_number() over (partition by ticket_id order by load_date desc, _source_file desc) = 1
