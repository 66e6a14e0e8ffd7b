-- Journey KPIs per campaign and send window, from the activation receipts: how many people the audience
-- held, how many were reached on which channel, why the others were not, and how many of the reached converted.
with people as (
    select
        campaign,
        send_window,
        customer_key,
        bool_or(status = 'held_out') as held_out,
        bool_or(status = 'sent') as reached,
        bool_or(status = 'sent' and channel = 'email') as reached_by_email,
        bool_or(status = 'sent' and channel = 'sms') as reached_by_sms,
        bool_or(status in ('failed', 'rejected')) as delivery_failed,
        any_value(reason) filter (where status = 'suppressed') as suppressed_for
    from {{ ref('stg_activation_receipts') }}
    group by campaign, send_window, customer_key
)

select
    people.campaign,
    people.send_window,
    count(*) as audience,
    count(*) filter (where people.held_out) as held_out,
    count(*) filter (where people.reached) as reached,
    count(*) filter (where people.reached_by_email) as reached_by_email,
    count(*) filter (where people.reached_by_sms) as reached_by_sms,
    count(*) filter (where people.delivery_failed) as delivery_failed,
    count(*) filter (where not people.reached and people.suppressed_for = 'no_consent') as suppressed_no_consent,
    count(*) filter (
        where not people.reached and people.suppressed_for = 'consent_unclear'
    ) as suppressed_consent_unclear,
    count(*) filter (where not people.reached and people.suppressed_for = 'cooldown') as suppressed_cooldown,
    count(*) filter (where not people.reached and people.suppressed_for = 'frequency_cap') as suppressed_frequency_cap,
    count(*) filter (where not people.reached and people.suppressed_for = 'quiet_hours') as suppressed_quiet_hours,
    count(*) filter (
        where not people.reached and people.suppressed_for = 'invalid_address'
    ) as suppressed_invalid_address,
    count(*) filter (where people.reached) / nullif(count(*), 0) as reach_share,
    count(*) filter (where people.reached and outcomes.converted) as reached_and_converted,
    count(*) filter (where people.reached and outcomes.converted)
    / nullif(count(*) filter (where people.reached), 0) as conversion_rate_reached
from people
left join {{ ref('int_campaign_outcomes') }} as outcomes
    on
        people.campaign = outcomes.campaign
        and people.send_window = outcomes.send_window
        and people.customer_key = outcomes.customer_key
group by people.campaign, people.send_window
