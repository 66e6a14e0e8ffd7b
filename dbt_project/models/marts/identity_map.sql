{{ config(
    materialized='incremental',
    unique_key='record_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
) }}
{% set incremental = is_incremental_on('resolved_at') %}
-- Every record and the customer it belongs to. customer_key is a hash of the person's anchor record (their
-- smallest CRM record, else their smallest record), so it stays the same from run to run. resolved_at says
-- which identity run last wrote the record: a nightly run writes again only the records whose person changed.
select
    record_id,
    source,
    source_key,
    {{ customer_key_of('anchor_record_id') }} as customer_key,
    anchor_record_id,
    resolved_at
from {{ ref('int_identity_components') }}
{% if incremental %}
    where resolved_at > {{ seen_through('resolved_at') }}
{% endif %}
