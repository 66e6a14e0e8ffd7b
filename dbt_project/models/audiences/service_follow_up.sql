-- Campaign: known customers who complained lately - a negative social mention or an NPS detractor answer in the
-- service_follow_up_days days up to as_of_date - and are not in contact with the service desk already (no ticket
-- opened since that signal, none still open). It goes to the service team's system, not to the customer.
with signals as (
    select
        customer_key,
        posted_at as signalled_at,
        'negative_social_mention' as signal
    from {{ ref('int_social_mentions') }}
    where sentiment = 'negative' and customer_key is not null
    union all
    select
        map.customer_key,
        nps.responded_at as signalled_at,
        'nps_detractor' as signal
    from {{ ref('stg_nps_responses') }} as nps
    inner join {{ ref('identity_map') }} as map on map.record_id = 'nps:' || nps.response_id
    where nps.nps_class = 'detractor'
),

recent as (
    select
        customer_key,
        min(signalled_at) as first_signal_at,
        max(signalled_at) as last_signal_at,
        max_by(signal, signalled_at) as last_signal,
        count(*) as signals
    from signals
    where
        cast(signalled_at as date) > {{ days_before(as_of_date(), var('service_follow_up_days')) }}
        and cast(signalled_at as date) <= {{ as_of_date() }}
    group by customer_key
),

service_desk as (
    select
        map.customer_key,
        max(tickets.opened_at) as last_ticket_at,
        bool_or(tickets.status = 'open') as has_open_ticket
    from {{ ref('stg_service_tickets') }} as tickets
    inner join {{ ref('identity_map') }} as map on map.record_id = 'ticket:' || tickets.ticket_id
    group by map.customer_key
)

select
    {{ audience_contact_columns('customers') }},
    recent.last_signal,
    recent.last_signal_at,
    recent.signals
from recent
inner join {{ ref('customer_360') }} as customers on recent.customer_key = customers.customer_key
left join service_desk on recent.customer_key = service_desk.customer_key
where
    not coalesce(service_desk.has_open_ticket, false)
    and (service_desk.last_ticket_at is null or service_desk.last_ticket_at < recent.first_signal_at)
