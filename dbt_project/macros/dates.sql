{#- Date arithmetic through dbt's cross-database macros, so the models move to another adapter unchanged.
    Named for what they mean; `column` is SQL text. -#}
{% macro days_before(column, days) -%}
  {{ dbt.dateadd('day', '-(' ~ days ~ ')', column) }}
{%- endmacro %}

{% macro days_between(earlier, later) -%}
  {{ dbt.datediff(earlier, later, 'day') }}
{%- endmacro %}

{% macro month_of(column) -%}
  {{ dbt.date_trunc('month', column) }}
{%- endmacro %}

{#- Whole years from `earlier` to `later` (an age): the difference of the years, less one before the anniversary. -#}
{% macro full_years_between(earlier, later) -%}
  year({{ later }}) - year({{ earlier }})
  - case when month({{ later }}) * 100 + day({{ later }}) < month({{ earlier }}) * 100 + day({{ earlier }}) then 1 else 0 end
{%- endmacro %}
