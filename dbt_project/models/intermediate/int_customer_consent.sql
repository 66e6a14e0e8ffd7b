-- Consent per customer, decided as the send-time check decides it (macros/consent.sql, docs/campaigns.md): the
-- CRM's newest record, lead forms and ESP unsubscribes in the lake, quarantined rows included. Only a granted
-- consent is true: refused, unclear and never asked are false. Rebuilt every run, as a withdrawal arrives with
-- the e-mail events, not with the profile.
with people as (
    select
        customer_key,
        crm_customer_id as customer_id,
        email
    from {{ ref('int_customer_profile') }}
),

states as (
    {{ consent_states(
        'people',
        source('lake', 'crm_customers'),
        source('lake', 'leads'),
        source('lake', 'esp_events'),
        lake_quarantine('crm_customers'),
        lake_quarantine('leads'),
        lake_quarantine('esp_events')
    ) }}
)

select
    people.customer_key,
    {% for purpose in var('consent_purposes') %}
        coalesce(bool_or(states.purpose = '{{ purpose }}' and states.state = 'granted'), false)
            as consent_{{ purpose }},
    {% endfor %}
    coalesce(bool_or(states.state = 'unclear'), false) as has_unclear_consent
from people
left join states on people.customer_key = states.customer_key
group by people.customer_key
