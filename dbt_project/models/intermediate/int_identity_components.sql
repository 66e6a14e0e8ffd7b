-- Each record with the anchor record that names its person: the identity graph's connected components, which the
-- identity step computes outside dbt (hourglass/model_steps.py) from int_identity_guarded_links.
{{ config(materialized='view') }}
-- depends_on: {{ ref('int_identity_guarded_links') }}  (the step's input: a selection of this model builds it)
select
    record_id,
    source,
    source_key,
    anchor_record_id
from {{ source('steps', 'identity_components') }}
