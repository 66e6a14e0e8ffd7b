{#- The rows of `newest` (a CTE of one row per `key`) to write: on an incremental run only those that differ from
    the stored row, found by a hash of the whole row (row_hash). `stamp` is the column that says when a row was
    written: a table without it is written whole. -#}
{% macro changed_rows(newest, key, stamp='staged_at') -%}
  {%- if is_incremental_on(stamp) -%}
    select {{ newest }}.*
    from {{ newest }}
    left join {{ this }} as stored on {{ newest }}.{{ key }} = stored.{{ key }}
    where stored.{{ key }} is null or stored.row_hash <> {{ newest }}.row_hash
  {%- else -%}
    select * from {{ newest }}
  {%- endif -%}
{%- endmacro %}

{#- The rows of `rows` (a CTE with row_hash) with changed_at: on an incremental run the stored row's stamp when
    the same row (same keys and hash) is stored among the days this run rebuilds, else this run's. So a nightly
    rebuild of the last days stamps only the rows whose values changed, and what reads changed_at looks again at
    those alone. -#}
{% macro stamp_changed(rows, keys, day_column) -%}
  {%- set keep = is_incremental_on('changed_at') -%}
  select
    {{ rows }}.*,
    {% if keep %}coalesce(stored.changed_at, {{ run_stamp() }}){% else %}{{ run_stamp() }}{% endif %} as changed_at
  from {{ rows }}
  {% if keep %}
    left join (
      select {{ keys | join(', ') }}, row_hash, changed_at
      from {{ this }}
      where {{ incremental_window(day_column) }}
    ) as stored
      on {% for key in keys %}{{ rows }}.{{ key }} = stored.{{ key }} and {% endfor %}{{ rows }}.row_hash = stored.row_hash
  {% endif %}
{%- endmacro %}

{#- source('lake', name) for an incremental staging model that reads every version of a source (a CRM full
    export, lead deliveries): on an incremental run, when no file of the source was written to the lake after
    the model's newest staged row, nothing in it can have changed, and the model reads none of it. At 1M
    customers that is 1.3 s of a night without a new CRM export. A file written during a run is newer than
    that run's stamp, so the next run reads it again at worst. -#}
{% macro lake_source_if_landed(name) -%}
  {%- set relation = source('lake', name) -%}
  {%- if execute and is_incremental_on('staged_at') -%}
    {%- set files = (relation | string).split("'")[1] -%}
    {%- set query -%}
      select count(*) from read_blob('{{ files }}')
      where epoch(last_modified) > epoch({{ seen_through('staged_at') }})
    {%- endset -%}
    {%- if run_query(query).columns[0].values()[0] == 0 -%}
      (select * from {{ relation }} where false)
    {%- else -%}
      {{ relation }}
    {%- endif -%}
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{%- endmacro %}
