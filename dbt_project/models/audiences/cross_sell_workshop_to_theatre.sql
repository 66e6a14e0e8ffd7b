-- Campaign: workshop participants who have never bought a theatre ticket: invite them to a performance.
select
    {{ audience_contact_columns() }},
    last_order_date
from {{ ref('customer_360') }}
where
    array_contains(categories_bought, 'workshop')
    and not array_contains(categories_bought, 'ticket')
    and lifecycle_stage in ('new', 'active', 'loyal', 'won_back')
    and {{ reachable_by_email_or_sms() }}
