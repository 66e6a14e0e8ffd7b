{#- The rows of `newest` (a CTE of one row per `key`) to write: on an incremental run only those that differ from
    the stored row, found by a hash of the whole row. -#}
{% macro changed_rows(newest, key) -%}
  {%- if is_incremental_on('staged_at') -%}
    select {{ newest }}.*
    from {{ newest }}
    left join {{ this }} as stored on {{ newest }}.{{ key }} = stored.{{ key }}
    where stored.{{ key }} is null or stored.row_hash <> {{ newest }}.row_hash
  {%- else -%}
    select * from {{ newest }}
  {%- endif -%}
{%- endmacro %}
