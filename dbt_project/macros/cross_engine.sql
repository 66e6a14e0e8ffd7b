{#- Where DuckDB and Spark SQL differ, one macro each, dispatched on the adapter (duckdb__ and spark__). Most of the
    dialect the models use is common to both and needs none: qualify, filter (where ...), group by all, min_by and
    max_by, percentile_cont ... within group, * except (...), `::` casts, cast(... as string), array_sort,
    array_distinct, array_contains, flatten, interval 1 day. hourglass/dbt_macros.py renders these macros for
    DuckDB outside dbt (phone.sql, consent.sql). -#}

{#- A Parquet dataset of the lake (raw/<source>, quarantine/<source>), every load date, the load date as a column
    and columns a later file added included. -#}
{% macro lake_files(dataset) -%}
  {{ return(adapter.dispatch('lake_files', 'hourglass')(dataset)) }}
{%- endmacro %}

{% macro default__lake_files(dataset) -%}
  read_parquet(
    '{{ env_var("HOURGLASS_HOME", "../data") }}/lake/{{ dataset }}/load_date=*/*.parquet',
    hive_partitioning = true, union_by_name = true
  )
{%- endmacro %}

{#- Spark discovers load_date=... folders itself; profiles.yml sets spark.sql.parquet.mergeSchema. -#}
{% macro spark__lake_files(dataset) -%}
  parquet.`{{ env_var("HOURGLASS_HOME", "../data") }}/lake/{{ dataset }}`
{%- endmacro %}

{#- on-run-start: on Spark, the sources in the lake as views (in a schema named after the source); a source's
    meta.lake_dataset says which dataset of the lake. A view is made once per metastore and kept while it reads the
    same folder: its schema evolves (a source that gained a column shows it at the next query), and making one
    costs Spark a listing of the folder and a read of every file's footer. DuckDB reads the sources where they are
    (their external_location). -#}
{% macro lake_views() -%}
  {{ return(adapter.dispatch('lake_views', 'hourglass')()) }}
{%- endmacro %}

{% macro default__lake_views() -%}
  select 1
{%- endmacro %}

{% macro spark__lake_views() -%}
  {%- if execute -%}
    {%- set wanted = {} -%}
    {%- for source in graph.sources.values() if source.meta.lake_dataset -%}
      {%- set dataset = source.meta.lake_dataset | replace('{name}', source.name) -%}
      {%- do wanted.setdefault(source.schema, {}).update({source.identifier: 'select * from ' ~ lake_files(dataset)}) -%}
    {%- endfor -%}
    {%- for schema, views in wanted.items() -%}
      {%- do run_query('create database if not exists ' ~ schema) -%}
      {%- set made = {} -%}
      {%- for row in run_query("show table extended in " ~ schema ~ " like '*'").rows -%}
        {%- do made.update({row['tableName']: row['information']}) -%}
      {%- endfor -%}
      {%- for name, query in views.items() -%}
        {%- set found = made.get(name, '') -%}
        {%- if ('View Text: ' ~ query ~ '\n') not in found or 'View Schema Mode: EVOLUTION' not in found -%}
          {%- do run_query(
            'create or replace view ' ~ schema ~ '.' ~ name ~ ' with schema evolution as ' ~ query
          ) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endif -%}
  select 1
{%- endmacro %}

{#- Every match of `pattern` in `value` replaced; `replacement` may refer to groups as \1. Arguments are SQL. -#}
{% macro regexp_replace_all(value, pattern, replacement) -%}
  {{ return(adapter.dispatch('regexp_replace_all', 'hourglass')(value, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(value, pattern, replacement) -%}
  regexp_replace({{ value }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{#- Java's regular expressions replace all matches and write a group as $1. -#}
{% macro spark__regexp_replace_all(value, pattern, replacement) -%}
  {%- set java = namespace(text=replacement) -%}
  {%- for group in range(1, 10) -%}
    {%- set java.text = java.text.replace('\\' ~ group, '$' ~ group) -%}
  {%- endfor -%}
  regexp_replace({{ value }}, {{ pattern }}, {{ java.text }})
{%- endmacro %}

{#- Whether the whole of `value` matches `pattern` (SQL). -#}
{% macro regexp_full_match(value, pattern) -%}
  {{ return(adapter.dispatch('regexp_full_match', 'hourglass')(value, pattern)) }}
{%- endmacro %}

{% macro default__regexp_full_match(value, pattern) -%}
  regexp_full_match({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_full_match(value, pattern) -%}
  ({{ value }} rlike concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}

{#- The pieces of `value` between matches of `pattern`, as rows `alias (column)` to join laterally:
    `from t, split_rows(...)`. -#}
{% macro split_rows(value, pattern, alias, column) -%}
  {{ return(adapter.dispatch('split_rows', 'hourglass')(value, pattern, alias, column)) }}
{%- endmacro %}

{% macro default__split_rows(value, pattern, alias, column) -%}
  unnest(string_split_regex({{ value }}, {{ pattern }})) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro spark__split_rows(value, pattern, alias, column) -%}
  lateral explode(split({{ value }}, {{ pattern }})) as {{ alias }} ({{ column }})
{%- endmacro %}

{#- A struct value from (name, SQL) pairs; structs compare field by field, so max() of one picks by its first. -#}
{% macro struct_of(fields) -%}
  {{ return(adapter.dispatch('struct_of', 'hourglass')(fields)) }}
{%- endmacro %}

{% macro default__struct_of(fields) -%}
  { {%- for name, value in fields %}'{{ name }}': {{ value }}{{ ", " if not loop.last }}{% endfor -%} }
{%- endmacro %}

{% macro spark__struct_of(fields) -%}
  named_struct({% for name, value in fields %}'{{ name }}', {{ value }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{#- How an incremental model replaces what a run rebuilds on Spark's Parquet tables (macros/incremental.sql): whole
    partitions of the model's day column (partition_by). There is no merge without Delta or Iceberg. -#}
{% macro spark__incremental_strategy_for(replaces) -%}
  {{ return('insert_overwrite') }}
{%- endmacro %}

{#- One row per element of an array (SQL), in a select list: `{{ unnest_rows('categories') }} as category`. -#}
{% macro unnest_rows(array) -%}
  {{ return(adapter.dispatch('unnest_rows', 'hourglass')(array)) }}
{%- endmacro %}

{% macro default__unnest_rows(array) -%}
  unnest({{ array }})
{%- endmacro %}

{% macro spark__unnest_rows(array) -%}
  explode({{ array }})
{%- endmacro %}

{#- An array of SQL expressions. -#}
{% macro array_of(items) -%}
  {{ return(adapter.dispatch('array_of', 'hourglass')(items)) }}
{%- endmacro %}

{% macro default__array_of(items) -%}
  [{{ items | join(', ') }}]
{%- endmacro %}

{% macro spark__array_of(items) -%}
  array({{ items | join(', ') }})
{%- endmacro %}

{#- Every column of `alias` but `columns`: `* except (...)`, which DuckDB and Spark read alike (sqlfluff's DuckDB
    dialect does not: .sqlfluff lints it as `* exclude`). -#}
{% macro star_except(alias, columns) -%}
  {{ alias }}.* except ({{ columns | join(', ') }})
{%- endmacro %}

{#- A model incremental by days also names its day as partition_by: Spark overwrites those partitions. An
    incremental run that overwrites without partitions replaces the whole table (Spark's insert_overwrite for a
    model keyed by rows (incremental_strategy_for('rows')): Parquet tables have no merge), so it builds every day. -#}
{% macro overwrites_whole_table() -%}
  {{ return(config.get('incremental_strategy') == 'insert_overwrite' and not config.get('partition_by')) }}
{%- endmacro %}
