{#- The rows the loader quarantined from a source, over all load dates: file, row number (or line), reason, the raw
    line and the raw fields by column name (hourglass/landing.py). Not a dbt source: Dagster knows the dataset as
    part of the source's ingest asset, which the models reading the source already depend on. -#}
{% macro lake_quarantine(name) -%}
  {{ lake_files('quarantine/' ~ name) }}
{%- endmacro %}
