{#- The run's reference day: the as_of_date var when given, else HOURGLASS_AS_OF_DATE, else today. Dagster
    passes a partition's day in the environment rather than as a var: dbt parses the whole project again when
    its vars differ from the last parse, and every night's day differs. -#}
{% macro as_of_date() -%}
  {%- set day = var('as_of_date') or (env_var('HOURGLASS_AS_OF_DATE', '') if execute else '') -%}
  {%- if day -%} cast('{{ day }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}
