{#- A model a Python step outside dbt reads (hourglass/model_steps.py): its rows as Parquet files in
    HOURGLASS_HOME/lake/model/<model>/ on either engine, dbt-duckdb's external file or a Spark table's folder.
    Use as {{ config(**parquet_handoff()) }}. -#}
{% macro parquet_handoff() -%}
  {%- set folder = env_var('HOURGLASS_HOME', '../data') ~ '/lake/model' -%}
  {%- if target.type == 'spark' -%}
    {{ return({'materialized': 'table', 'file_format': 'parquet', 'location_root': folder}) }}
  {%- else -%}
    {{ return({'materialized': 'external', 'location': folder ~ '/' ~ model.name ~ '/data.parquet'}) }}
  {%- endif -%}
{%- endmacro %}
