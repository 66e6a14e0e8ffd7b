{#- Per-customer facts kept incrementally (int_customer_*_facts, int_customer_months). Each row carries the
    run that wrote it (built_at) and the day it was counted for (as_of_date). A nightly run writes again only
    the customers whose facts can have changed since: new or changed source rows, identity changes, and rows
    leaving a rolling window between the last counted day and this one. Their old rows go first (pre_hook),
    as a customer can lose all of them. -#}

{#- identity_map's key for a person: a hash of their anchor record. -#}
{% macro customer_key_of(record_id) -%}
  substr(md5({{ record_id }}), 1, 16)
{%- endmacro %}

{#- The day this table was last counted for. -#}
{% macro counted_as_of() -%}
  {{ newest_in_this('as_of_date', 'date', 'cast(null as date)') }}
{%- endmacro %}

{#- Rows whose day left the last `days` days between `counted` (counted_as_of(), read once by the caller) and this
    run's day; every row when this run is for an earlier day than the last (the windows then move back). -#}
{% macro leaving_window(column, days, counted) -%}
  (
    ({{ column }} > {{ days_before(counted, days) }} and {{ column }} <= {{ days_before(as_of_date(), days) }})
    or {{ counted }} > {{ as_of_date() }}
  )
{%- endmacro %}

{#- The customers identity wrote a record of since `since`: each record's customer, and the customer whose anchor
    it was. A customer merged into another keeps no record under its key, but its anchor record was written
    again: its key is that record's hash. One scan of identity_map for both. -#}
{% macro customers_identity_wrote(since) -%}
  select unnest([map.customer_key, {{ customer_key_of('map.record_id') }}]) as customer_key
  from {{ ref('identity_map') }} as map
  where map.resolved_at > {{ since }}
{%- endmacro %}

{#- The customer keys to write again: `changed` (a query of customer_key, from the model's own sources) and every
    customer identity_map wrote since. -#}
{% macro customers_to_refresh(changed) -%}
  {{ changed }}
  union
  {{ customers_identity_wrote(seen_through('built_at')) }}
{%- endmacro %}

{#- The pre_hook of a facts model: its refreshed customers' old rows go, gone customers' included. -#}
{% macro delete_customers_to_refresh(changed) -%}
  {%- if is_incremental_on('built_at') -%}
    delete from {{ this }} where customer_key in ({{ customers_to_refresh(changed) }})
  {%- endif -%}
{%- endmacro %}

{#- Whether an order of int_orders (under alias `orders`, if given) is a purchase: it has a completed (or
    refunded) line, whatever its net amount, so a free order is one too; an order of cancelled lines only is
    none. -#}
{% macro is_purchase(orders=none) -%}
  {% if orders %}{{ orders }}.{% endif %}counted_lines > 0
{%- endmacro %}

{#- Orders new or moved to another customer since, and customers with a purchase leaving the last 365 days. -#}
{% macro customers_with_changed_orders() -%}
  {%- set seen = seen_through('built_at') -%}
  select orders.customer_key
  from {{ ref('int_orders') }} as orders
  where
    orders.staged_at > {{ seen }}
    or orders.resolved_at > {{ seen }}
    or ({{ is_purchase('orders') }} and {{ leaving_window('orders.order_date', 365, counted_as_of()) }})
{%- endmacro %}

{#- Orders new or moved since; the months a customer bought in do not depend on the day. -#}
{% macro customers_with_changed_order_months() -%}
  {%- set seen = seen_through('built_at') -%}
  select orders.customer_key
  from {{ ref('int_orders') }} as orders
  where orders.staged_at > {{ seen }} or orders.resolved_at > {{ seen }}
{%- endmacro %}

{#- Customers with days of a daily model (subscriber or visitor days) changed since, or with activity (`active`,
    SQL over `daily`) leaving the last 90 or 365 days. -#}
{% macro customers_with_changed_days(model, prefix, key, day, active) -%}
  {%- set counted = counted_as_of() -%}
  select map.customer_key
  from {{ ref(model) }} as daily
  inner join {{ ref('identity_map') }} as map on map.record_id = '{{ prefix }}:' || daily.{{ key }}
  where
    daily.changed_at > {{ seen_through('built_at') }}
    or ({{ active }} and (
      {{ leaving_window('daily.' ~ day, 90, counted) }} or {{ leaving_window('daily.' ~ day, 365, counted) }}
    ))
{%- endmacro %}

{% macro customers_with_changed_email() -%}
  {{ customers_with_changed_days('int_esp_events_daily', 'esp', 'subscriber_id', 'event_date', 'daily.clicks > 0') }}
{%- endmacro %}

{% macro customers_with_changed_web() -%}
  {{ customers_with_changed_days('int_ga4_web_daily', 'ga4', 'visitor_id', 'visit_date', 'daily.sessions > 0') }}
{%- endmacro %}

{#- Whether `column` (a customer key) is one to write again: every key on a full build. -#}
{% macro to_refresh(column, changed) -%}
  {%- if is_incremental_on('built_at') -%}
    {{ column }} in ({{ customers_to_refresh(changed) }})
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro %}

{#- A source's records with their customer; on an incremental run, only the customers to refresh. -#}
{% macro customer_records(source, key_name, changed) -%}
  select
    records.customer_key,
    records.source_key as {{ key_name }}
  from {{ ref('identity_map') }} as records
  where records.source = '{{ source }}' and {{ to_refresh('records.customer_key', changed) }}
{%- endmacro %}

{#- CRM records and leads staged since (a changed value), and e-mail links of subscribers written since. -#}
{% macro customers_with_changed_profile() -%}
  {%- set seen = seen_through('built_at') -%}
  select map.customer_key
  from {{ ref('stg_crm_customers') }} as crm
  inner join {{ ref('identity_map') }} as map on map.record_id = 'crm:' || crm.customer_id
  where crm.staged_at > {{ seen }}
  union
  select map.customer_key
  from {{ ref('stg_leads') }} as leads
  inner join {{ ref('identity_map') }} as map on map.record_id = 'lead:' || leads.lead_id
  where leads.staged_at > {{ seen }}
  union
  select map.customer_key
  from {{ ref('int_identity_links') }} as links
  inner join {{ ref('identity_map') }} as map on links.record_id = map.record_id
  where links.source = 'esp_events' and links.linked_at > {{ seen }}
{%- endmacro %}
