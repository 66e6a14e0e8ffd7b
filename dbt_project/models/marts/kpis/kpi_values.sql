{{ config(tags=['effect']) }}
-- Every KPI a goal can name, one row per KPI and month: the figure as the KPI models count it. A KPI is added
-- by adding a line to the list in macros/kpis.sql (and a CTE here when its figure needs one) and a goal in
-- seeds/kpi_goals.csv.
-- Built after activation (tag effect): the campaign KPI reads the receipts.
with lifecycle as (
    select * from {{ ref('kpi_lifecycle_monthly') }}
),

email as (
    select
        event_month,
        sum(unique_opens) / nullif(sum(sends), 0) as open_rate,
        sum(unique_clicks) / nullif(sum(sends), 0) as click_rate
    from {{ ref('kpi_email_monthly') }}
    group by event_month
),

web as (
    select
        {{ month_of('visit_date') }} as visit_month,
        sum(sessions) as sessions,
        sum(workshop_signups_completed) as workshop_signups_completed
    from {{ ref('kpi_web_daily') }}
    group by {{ month_of('visit_date') }}
),

satisfaction as (
    select
        month,
        sum(nps * responses) / sum(responses) as nps,
        max(complaint_rate_in_month) as complaint_rate
    from {{ ref('kpi_satisfaction_monthly') }}
    group by month
),

social as (
    select
        mention_month,
        sum(mentions) as mentions,
        sum(negative_mentions) / sum(mentions) as negative_share
    from {{ ref('kpi_social_monthly') }}
    group by mention_month
),

journeys as (
    select
        {{ month_of('send_window') }} as send_month,
        sum(reached) / nullif(sum(audience), 0) as reach_share
    from {{ ref('kpi_journeys') }}
    group by {{ month_of('send_window') }}
)

{#- Each KPI (macros/kpis.sql): its name, the CTE above it comes from, that CTE's month and value columns. -#}
{% set kpis = kpi_definitions() %}

{% for kpi, relation, month, value in kpis %}
    select
        '{{ kpi }}' as kpi,
        cast({{ month }} as date) as kpi_month,
        cast({{ value }} as double) as kpi_value
    from {{ relation }}
    where {{ month }} is not null
    {% if not loop.last %}union all{% endif %}
{% endfor %}
