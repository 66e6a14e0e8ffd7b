{#- Consent: the one definition the audiences (int_customer_consent) and the send-time check (hourglass/consent.py,
    which renders this file with jinja2 over the lake's Parquet files) share. Plain Jinja: relations come in as
    arguments, the consents from the vars consent_purposes and lead_consent_purposes. docs/campaigns.md states
    the rules. -#}

{#- `value` is one of the `withdrawals` (ESP event types), compared lower-cased and trimmed. A value shorter than
    the shortest of them cannot be one (trimming and lower-casing never lengthen it): most events are passed over
    without being normalised. -#}
{% macro consent_is_withdrawal(value, withdrawals) -%}
  case
    when length({{ value }}) >= {{ withdrawals | map('length') | min }}
      then lower(trim({{ value }})) in ('{{ withdrawals | join("', '") }}')
    else false
  end
{%- endmacro %}

{#- A raw field holds something: not missing, not blank. -#}
{% macro consent_raw_present(field) -%}
  coalesce(trim({{ field }}), '') <> ''
{%- endmacro %}

{#- A quarantined row's raw fields touch one of `purposes`: its consent field or its timestamp holds something. -#}
{% macro consent_raw_touches(purposes) -%}
  (
    {%- for p in purposes %}
      {{ consent_raw_present("raw_fields['consent_" ~ p ~ "']") }}
      or {{ consent_raw_present("raw_fields['consent_" ~ p ~ "_at']") }}{{ " or" if not loop.last }}
    {%- endfor %}
  )
{%- endmacro %}

{#- The purposes as a one-column table `purposes (purpose)`; with `channel`, only that channel's. -#}
{% macro consent_purpose_values(purposes, channel=none) -%}
  (
    values {% for p in purposes if channel is none or p.startswith(channel ~ '_') -%}
      ('{{ p }}'){{ ", " if not loop.last }}
    {%- endfor %}
  ) as purposes (purpose)
{%- endmacro %}

{#- Each person's consent per purpose as rows (customer_key, purpose, state), state granted, refused or unclear; a
    purpose without a row was never decided: no consent.
    people: customer_key, customer_id (CRM) and email of the people to decide for. crm, leads, esp: the lake's
    rows of those sources (with load_date and _source_file); *_quarantine: their quarantined rows. -#}
{% macro consent_states(people, crm, leads, esp, crm_quarantine, leads_quarantine, esp_quarantine) -%}
{%- set purposes = var('consent_purposes') -%}
{%- set lead_purposes = var('lead_consent_purposes') -%}
{%- set withdrawals = ['unsubscribe', 'spam_complaint'] -%}
{%- set recorded = {'crm_customers': purposes, 'leads': lead_purposes} -%}
with consent_people as (
  select
    customer_key,
    customer_id,
    {{ normalise_email('email') }} as email
  from {{ people }}
),

-- what a decision names: a CRM record or an e-mail address
consent_subjects as (
  select customer_key, 'crm:' || customer_id as subject from consent_people where customer_id is not null
  union all
  select customer_key, 'email:' || email from consent_people where email is not null
),

-- the newest version of each person's CRM record, as stg_crm_customers picks it
crm_records as (
  select *
  from {{ crm }}
  where customer_id in (select customer_id from consent_people)
  qualify row_number() over (
    partition by customer_id order by updated_at desc, load_date desc, _source_file desc
  ) = 1
),

-- the newest delivery of each lead, as stg_leads picks it, where it names a person's address
lead_forms as (
  select *
  from (
    select
      *,
      {{ normalise_email('email') }} as address
    from {{ leads }}
    where lead_id in (
      select lead_id from {{ leads }} where {{ normalise_email('email') }} in (select email from consent_people)
    )
    qualify row_number() over (partition by lead_id order by load_date desc, _source_file desc) = 1
  ) as newest
  where address in (select email from consent_people)
),

esp_withdrawals as (
  select
    subscriber_id,
    {{ normalise_email('email') }} as email,
    event_at
  from {{ esp }}
  where {{ consent_is_withdrawal('event_type', withdrawals) }}
),

-- the quarantined rows of the three sources that may touch a consent (below), each with an id, its fields by
-- name and the key a clean delivery of the same record carries; a line the reader could not split into fields
-- has no fields by name
quarantined as (
  {% for source, quarantine, key in [
    ('crm_customers', crm_quarantine, 'customer_id'),
    ('leads', leads_quarantine, 'lead_id'),
    ('esp_events', esp_quarantine, 'event_id')
  ] %}
    select
      '{{ source }}' as source,
      load_date,
      '{{ source }}/' || load_date || '/' || source_file || '#' || coalesce(row_number, -line) as row_id,
      raw_fields,
      raw_line,
      raw_fields['{{ key }}'] as record_key
    from {{ quarantine }}
    where
      raw_fields is null
      {% if source == 'esp_events' %}
        or {{ consent_is_withdrawal("raw_fields['event_type']", withdrawals) }}
      {% else %}
        or {{ consent_raw_touches(recorded[source]) }}
      {% endif %}
    {{ "union all" if not loop.last }}
  {% endfor %}
),

-- every field of the lines that could not be split: any of them may be a key, an id or an address
unsplit_fields as (
  select
    q.source,
    q.load_date,
    q.row_id,
    trim(both ' "' from field.value) as value
  from quarantined as q, {{ split_rows('q.raw_line', "'[,;\\t]'", 'field', 'value') }}
  where q.raw_fields is null
),

-- quarantined ESP rows that may be a withdrawal: the event type says so, or one field of an unsplit line does
esp_quarantined_withdrawals as (
  select row_id from quarantined
  where source = 'esp_events' and raw_fields is not null
  union
  select row_id from unsplit_fields
  where source = 'esp_events' and {{ consent_is_withdrawal('value', withdrawals) }}
),

-- the address an ESP subscriber id stands for, for withdrawals that name only the id and for the ids quarantined
-- ESP rows may hold (a blank address is null, which min() passes over: normalised once the id matched, not for
-- every event)
esp_addresses as (
  select
    subscriber_id,
    min({{ normalise_email('email') }}) as email
  from {{ esp }}
  where
    subscriber_id in (
      select subscriber_id from esp_withdrawals where email is null
      union all
      select raw_fields['subscriber_id'] from quarantined where source = 'esp_events'
      union all
      select value from unsplit_fields where source = 'esp_events'
    )
  group by subscriber_id
),

decisions as (
  -- a grant without its own timestamp has none (it never overrides a withdrawal); a refusal without one takes
  -- its record's time
  {% for purpose in purposes %}
    select
      'crm:' || customer_id as subject,
      '{{ purpose }}' as purpose,
      consent_{{ purpose }} as granted,
      case
        when consent_{{ purpose }} then consent_{{ purpose }}_at
        else coalesce(consent_{{ purpose }}_at, updated_at)
      end as decided_at
    from crm_records
    where consent_{{ purpose }} is not null
    union all
  {% endfor %}
  {% for purpose in lead_purposes %}
    select
      'email:' || address,
      '{{ purpose }}',
      consent_{{ purpose }},
      case
        when consent_{{ purpose }} then consent_{{ purpose }}_at
        else coalesce(consent_{{ purpose }}_at, created_at)
      end
    from lead_forms
    where consent_{{ purpose }} is not null
    union all
  {% endfor %}
  select
    'email:' || coalesce(w.email, known.email),
    purposes.purpose,
    false,
    w.event_at
  from esp_withdrawals as w
  left join esp_addresses as known on w.subscriber_id = known.subscriber_id
  cross join {{ consent_purpose_values(purposes, 'email') }}
  where coalesce(w.email, known.email) in (select email from consent_people)
),

-- the consents quarantined rows touch: a consent field or its timestamp holds something; a withdrawal event
-- touches every e-mail consent; an unsplit line touches every consent its source records
touches as (
  {% for source in ['crm_customers', 'leads'] %}
    {% for purpose in recorded[source] %}
      select row_id, '{{ purpose }}' as purpose from quarantined
      where source = '{{ source }}' and {{ consent_raw_touches([purpose]) }}
      union all
    {% endfor %}
    select q.row_id, purposes.purpose
    from quarantined as q cross join {{ consent_purpose_values(recorded[source]) }}
    where q.source = '{{ source }}' and q.raw_fields is null
    union all
  {% endfor %}
  select w.row_id, purposes.purpose
  from esp_quarantined_withdrawals as w cross join {{ consent_purpose_values(purposes, 'email') }}
),

-- whom quarantined rows name: the CRM id, the address, the address of the subscriber id; for an unsplit line,
-- whoever any field names
names as (
  select row_id, 'crm:' || raw_fields['customer_id'] as subject from quarantined where source = 'crm_customers'
  union all
  select row_id, 'email:' || {{ normalise_email("raw_fields['email']") }} from quarantined
  union all
  select q.row_id, 'email:' || known.email
  from quarantined as q inner join esp_addresses as known on q.raw_fields['subscriber_id'] = known.subscriber_id
  where q.source = 'esp_events'
  union all
  select row_id, 'crm:' || value from unsplit_fields where source = 'crm_customers'
  union all
  select row_id, 'email:' || {{ normalise_email('value') }} from unsplit_fields
  union all
  select f.row_id, 'email:' || known.email
  from unsplit_fields as f inner join esp_addresses as known on f.value = known.subscriber_id
  where f.source = 'esp_events'
),

touched as (
  select distinct
    s.customer_key,
    t.purpose,
    t.row_id
  from touches as t
  inner join names as n on t.row_id = n.row_id
  inner join consent_subjects as s on n.subject = s.subject
),

-- the record keys of quarantined rows: the key field, or any field of an unsplit line
quarantined_keys as (
  select row_id, source, load_date, record_key from quarantined where record_key is not null
  union all
  select row_id, source, load_date, value from unsplit_fields
),

-- quarantined rows whose record landed again, clean, on a later day
redelivered as (
  select keys.row_id
  from quarantined_keys as keys
  inner join (
    {% for source, relation, key in [('crm_customers', crm, 'customer_id'), ('leads', leads, 'lead_id'),
                                     ('esp_events', esp, 'event_id')] %}
      select '{{ source }}' as source, {{ key }} as record_key, load_date from {{ relation }}
      where {{ key }} in (select record_key from quarantined_keys where source = '{{ source }}')
      {{ "union all" if not loop.last }}
    {% endfor %}
  ) as clean
    on keys.source = clean.source and keys.record_key = clean.record_key and clean.load_date > keys.load_date
),

-- per person and purpose: the day the newest quarantined row touching it landed, of those not redelivered
unclear as (
  select
    t.customer_key,
    t.purpose,
    max(q.load_date) as landed_on
  from touched as t
  inner join quarantined as q on t.row_id = q.row_id
  where t.row_id not in (select row_id from redelivered)
  group by t.customer_key, t.purpose
),

-- per person and purpose: the latest decision, as (moment, refused), the largest wins: a grant without its own
-- time is older than any withdrawal; at the same moment a refusal wins
latest as (
  select
    s.customer_key,
    d.purpose,
    max({{ struct_of([
      ('moment', "coalesce(d.decided_at, cast('0001-01-01' as timestamp))"), ('refused', 'not d.granted')
    ]) }}) as decision
  from consent_subjects as s
  inner join decisions as d on s.subject = d.subject
  group by s.customer_key, d.purpose
)

-- a quarantined row stays unclear until a decision made after the day it landed
select
  coalesce(latest.customer_key, unclear.customer_key) as customer_key,
  coalesce(latest.purpose, unclear.purpose) as purpose,
  case
    when
      unclear.customer_key is not null
      and (latest.decision is null or latest.decision.moment < cast(unclear.landed_on as timestamp) + interval 1 day)
      then 'unclear'
    when latest.decision.refused then 'refused'
    else 'granted'
  end as state
from latest
full outer join unclear on latest.customer_key = unclear.customer_key and latest.purpose = unclear.purpose
{%- endmacro %}
