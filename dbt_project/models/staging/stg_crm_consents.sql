-- Consent per customer, channel and purpose as rows: the shape send-time checks and KPIs read.
with customers as (
    select * from {{ ref('stg_crm_customers') }}
)

{% set purposes = [
    ('email', 'marketing'), ('email', 'newsletter'), ('sms', 'marketing'), ('ads', 'personalisation')
] %}
{% for channel, purpose in purposes %}
    select
        customer_id,
        '{{ channel }}' as channel,
        '{{ purpose }}' as purpose,
        consent_{{ channel }}_{{ purpose }} as granted,
        consent_{{ channel }}_{{ purpose }}_at as decided_at
    from customers
    {% if not loop.last %}union all{% endif %}
{% endfor %}
