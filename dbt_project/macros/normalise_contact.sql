{#- E-mail as it is matched across systems: trimmed and lower-cased; empty becomes null. -#}
{% macro normalise_email(column) -%}
  nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{#- Phone in E.164 (+31612345678). Numbers without a country code are taken as Dutch. -#}
{% macro normalise_phone(column) -%}
  case
    when nullif(regexp_replace({{ column }}, '[^0-9]', '', 'g'), '') is null then null
    when trim({{ column }}) like '+%' then '+' || regexp_replace({{ column }}, '[^0-9]', '', 'g')
    when regexp_replace({{ column }}, '[^0-9]', '', 'g') like '00%'
      then '+' || substr(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 3)
    when regexp_replace({{ column }}, '[^0-9]', '', 'g') like '0%'
      then '+31' || substr(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 2)
    else '+' || regexp_replace({{ column }}, '[^0-9]', '', 'g')
  end
{%- endmacro %}
