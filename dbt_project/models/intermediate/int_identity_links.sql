-- Every record that tells something about a person, with each identifier it carries: one row per
-- (record, identifier). Records sharing an identifier belong to the same person, unless the identifier is
-- shared by too many people (int_identity_guarded_links). Add a source or identifier by adding a line here:
-- its model, key and identifiers (type: column). The event sources are read through models that keep each
-- combination of a record's identifiers once (int_esp_identifiers, int_ga4_visitors), not every event.
-- A clicked e-mail link carries the visitor id that GA4 reports: it ties the web visitor to the address.
{% set sources = [
    ('crm_customers', 'crm', 'stg_crm_customers', 'customer_id', {'crm_id': 'customer_id', 'email': 'email', 'phone': 'phone'}),
    ('leads', 'lead', 'stg_leads', 'lead_id', {'email': 'email', 'phone': 'phone'}),
    ('esp_events', 'esp', 'int_esp_identifiers', 'subscriber_id', {'email': 'email', 'visitor_id': 'tracking_id'}),
    ('ga4_web', 'ga4', 'int_ga4_visitors', 'visitor_id', {'visitor_id': 'visitor_id'}),
    ('erp_orders', 'order', 'stg_erp_order_lines', 'order_id', {'crm_id': 'customer_id', 'email': 'email'}),
    ('subscriptions', 'subscription', 'stg_subscriptions', 'subscription_id', {'crm_id': 'customer_id'}),
    ('service_tickets', 'ticket', 'stg_service_tickets', 'ticket_id', {'crm_id': 'customer_id', 'email': 'email'}),
    ('nps_responses', 'nps', 'stg_nps_responses', 'response_id', {'crm_id': 'customer_id', 'email': 'email'}),
    ('social_mentions', 'social', 'stg_social_mentions', 'mention_id', {'crm_id': 'customer_id'}),
] %}

with links as (
    {% for source, prefix, model, key, identifiers in sources %}
        {% set columns = [key] + identifiers.values() | reject('equalto', key) | unique | list %}
        {% set structs = [] %}
        {% for id_type, id_column in identifiers.items() %}
            {% set fields = [('identifier_type', "'" ~ id_type ~ "'"), ('identifier_value', id_column)] %}
            {% do structs.append(struct_of(fields)) %}
        {% endfor %}
        select distinct
            '{{ prefix }}:' || {{ key }} as record_id,
            '{{ source }}' as source,
            {{ key }} as source_key,
            identifier.identifier_type,
            identifier.identifier_value
        from (
            select
                {{ key }},
                {{ unnest_rows(array_of(structs)) }} as identifier
            -- events repeat a record's identifiers: each combination once before they are unnested
            from (select distinct {{ columns | join(', ') }} from {{ ref(model) }})
        )
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
