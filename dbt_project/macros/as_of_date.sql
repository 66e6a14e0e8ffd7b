{#- The run's reference day: the as_of_date var when given, else today. -#}
{% macro as_of_date() -%}
  {%- if var('as_of_date') -%} cast('{{ var("as_of_date") }}' as date) {%- else -%} current_date {%- endif -%}
{%- endmacro %}
