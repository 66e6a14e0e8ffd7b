{#- The incremental models are the ones whose rows belong to days (events, and what is counted per day or
    month from them): a run rebuilds whole days, and everything per customer is computed from them again.
    Which days: a backfill's [incremental_start, incremental_end) when given (Dagster sets them from the
    partition range), else the last incremental_lookback_days up to as_of_date, to take in late data. -#}

{#- The first day an incremental run rebuilds; the last is as_of_date() (Dagster runs a range for its last day). -#}
{% macro incremental_first_day() -%}
  {%- if var('incremental_start', none) -%}
    cast('{{ var("incremental_start") }}' as date)
  {%- else -%}
    {{ days_before(as_of_date(), var('incremental_lookback_days') ~ ' - 1') }}
  {%- endif -%}
{%- endmacro %}

{#- `column` (a date) lies among the days this run builds: up to as_of_date, and on an incremental run from
    incremental_first_day() on. -#}
{% macro days_to_build(column) -%}
  {{ column }} <= {{ as_of_date() }}
  {%- if is_incremental() and not overwrites_whole_table() -%}
    {{ ' ' }}and {{ column }} >= {{ incremental_first_day() }}
  {%- endif %}
{%- endmacro %}


{#- How an incremental run replaces what it rebuilds: `days` when the model's unique_key is its day (or month),
    `rows` when it is a row's key (a newer version replaces an older one, from another day). DuckDB deletes
    and inserts both; another adapter says what it does in its own <adapter>__incremental_strategy_for. -#}
{% macro incremental_strategy_for(replaces) -%}
  {{ return(adapter.dispatch('incremental_strategy_for')(replaces)) }}
{%- endmacro %}

{% macro default__incremental_strategy_for(replaces) -%}
  {{ return('delete+insert') }}
{%- endmacro %}
