{#- E-mail as it is matched across systems: trimmed and lower-cased; empty becomes null. -#}
{% macro normalise_email(column) -%}
  nullif(lower(trim({{ column }})), '')
{%- endmacro %}
