-- Every record that tells something about a person, with each identifier it carries: one row per
-- (record, identifier). Records sharing an identifier belong to the same person, unless the identifier is
-- shared by too many people (int_identity_guarded_links). Add a source or identifier by adding a line here.
{% set links = [
    ('crm_customers', 'crm', 'stg_crm_customers', 'customer_id', 'crm_id', 'customer_id'),
    ('crm_customers', 'crm', 'stg_crm_customers', 'customer_id', 'email', 'email'),
    ('crm_customers', 'crm', 'stg_crm_customers', 'customer_id', 'phone', 'phone'),
    ('leads', 'lead', 'stg_leads', 'lead_id', 'email', 'email'),
    ('leads', 'lead', 'stg_leads', 'lead_id', 'phone', 'phone'),
    ('esp_events', 'esp', 'stg_esp_events', 'subscriber_id', 'email', 'email'),
    ('esp_events', 'esp', 'stg_esp_events', 'subscriber_id', 'visitor_id', 'tracking_id'),
    ('ga4_web', 'ga4', 'stg_ga4_web', 'visitor_id', 'visitor_id', 'visitor_id'),
    ('erp_orders', 'order', 'stg_erp_order_lines', 'order_id', 'crm_id', 'customer_id'),
    ('erp_orders', 'order', 'stg_erp_order_lines', 'order_id', 'email', 'email'),
    ('subscriptions', 'subscription', 'stg_subscriptions', 'subscription_id', 'crm_id', 'customer_id'),
    ('service_tickets', 'ticket', 'stg_service_tickets', 'ticket_id', 'crm_id', 'customer_id'),
    ('service_tickets', 'ticket', 'stg_service_tickets', 'ticket_id', 'email', 'email'),
    ('nps_responses', 'nps', 'stg_nps_responses', 'response_id', 'crm_id', 'customer_id'),
    ('nps_responses', 'nps', 'stg_nps_responses', 'response_id', 'email', 'email'),
    ('social_mentions', 'social', 'stg_social_mentions', 'mention_id', 'crm_id', 'customer_id'),
] %}
-- A clicked e-mail link carries the visitor id that GA4 reports: it ties the web visitor to the address.

with links as (
    {% for source, prefix, model, key, id_type, id_column in links %}
        select distinct
            '{{ prefix }}:' || {{ key }} as record_id,
            '{{ source }}' as source,
            {{ key }} as source_key,
            '{{ id_type }}' as identifier_type,
            {{ id_column }} as identifier_value
        from {{ ref(model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

records_with_identifier as (
    select distinct record_id
    from links
    where identifier_value is not null
)

select
    record_id,
    source,
    source_key,
    identifier_type,
    identifier_value
from links
where identifier_value is not null
union all
-- a record without any identifier still appears once, so that it becomes a person of its own
select distinct
    links.record_id,
    links.source,
    links.source_key,
    null as identifier_type,
    null as identifier_value
from links
left join records_with_identifier on links.record_id = records_with_identifier.record_id
where records_with_identifier.record_id is null
