{#- Free text from a source as messages may use it: control characters and line or paragraph separators
    (CR, LF, tab, NEL, U+2028/9) become one space, ends trimmed, empty becomes null. A name reaches e-mail
    subjects, so a line break in it must never survive staging. -#}
{% macro clean_text(column) -%}
  nullif(trim({{ regexp_replace_all(column, "'[\\p{Cc}\\p{Zl}\\p{Zp}]+'", "' '") }}), '')
{%- endmacro %}

{#- A stated language as a lower-case ISO 639-1 code (seed ref_languages); anything else, or nothing, is
    `default`: one unknown code must not fail the campaigns that read the column. -#}
{% macro iso_language(column, default='nl') -%}
  case
    when lower(trim({{ column }})) in (select language from {{ ref('ref_languages') }}) then lower(trim({{ column }}))
    else '{{ default }}'
  end
{%- endmacro %}
