{#- The run's reference day: the as_of_date var when given, else today. -#}
{% macro as_of_date() -%}
  {%- if var('as_of_date') -%} cast('{{ var("as_of_date") }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}

{#- Which days an incremental run rebuilds: a backfill's [incremental_start, incremental_end) when given
    (Dagster sets them from the partition range), else the last incremental_lookback_days up to as_of_date. -#}
{% macro incremental_window(column) -%}
  {%- if var('incremental_start', none) -%}
    {{ column }} >= cast('{{ var("incremental_start") }}' as date)
    and {{ column }} < cast('{{ var("incremental_end") }}' as date)
  {%- else -%}
    {{ column }} > {{ days_before(as_of_date(), var('incremental_lookback_days')) }}
  {%- endif -%}
{%- endmacro %}

{#- When this dbt invocation started, as a timestamp: incremental identity models stamp the rows they (re)write
    with it, and each model downstream takes in the rows stamped later than the newest it has seen. -#}
{% macro run_stamp() -%}
  cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- The newest stamp in a column of this incremental model: what it has taken in so far. -#}
{% macro seen_through(column) -%}
  (select coalesce(max({{ column }}), cast('1970-01-01' as timestamp)) from {{ this }})
{%- endmacro %}

{#- is_incremental(), and the table already has the stamp column the model goes by. A table built before the
    model was incremental lacks it: the model then builds whole once, and on_schema_change adds the column. -#}
{% macro is_incremental_on(column) -%}
  {%- if not is_incremental() -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
  {{ return(column in names) }}
{%- endmacro %}

{#- dbt-duckdb builds an incremental Python model's new rows in a table named <model>__dbt_tmp<timestamp> and
    does not drop it (it is a real table, not a temporary one): every nightly run left one behind. This drops
    them, a killed run's included. -#}
{% macro drop_leftover_temp_tables() -%}
  {%- if execute -%}
    {%- set query -%}
      select table_name from information_schema.tables
      where table_schema = '{{ this.schema }}' and starts_with(table_name, '{{ this.identifier }}__dbt_tmp')
    {%- endset -%}
    {%- for row in run_query(query) -%}
      drop table if exists {{ this.schema }}."{{ row[0] }}";
    {% endfor -%}
  {%- endif -%}
{%- endmacro %}
