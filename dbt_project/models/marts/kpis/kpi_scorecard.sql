{{ config(tags=['effect']) }}
-- Each KPI with a goal (seeds/kpi_goals.csv) beside its actual value in the goal's period, the value of the period
-- before, the change, and a status. Period month: the last complete calendar month before the run's day.
-- Status, with margin = var kpi_at_risk_margin (a share of the target):
--   on track   the actual meets the target (at or above it for "higher", at or below it for "lower");
--   at risk    it misses the target by no more than margin * |target|;
--   missed     it misses by more;
--   no data    kpi_values has no value for the period.
{% set margin = var('kpi_at_risk_margin') %}
with this_period as (
    select cast({{ month_of(days_before(month_of(as_of_date()), 1)) }} as date) as this_period
),

periods as (
    select
        this_period,
        cast({{ month_of(days_before('this_period', 1)) }} as date) as previous_period
    from this_period
),

goals as (
    select
        goals.*,
        periods.this_period,
        periods.previous_period
    from {{ ref('kpi_goals') }} as goals
    cross join periods
),

measured as (
    select
        goals.kpi,
        goals.domain,
        goals.owner,
        goals.direction,
        goals.period,
        goals.this_period as period_start,
        goals.target,
        actual.kpi_value as actual,
        previous.kpi_value as previous,
        -- how far the actual is from the target, in the good direction: negative is short of it
        case goals.direction
            when 'higher' then actual.kpi_value - goals.target
            else goals.target - actual.kpi_value
        end as ahead_of_target
    from goals
    left join {{ ref('kpi_values') }} as actual
        on goals.kpi = actual.kpi and goals.this_period = actual.kpi_month
    left join {{ ref('kpi_values') }} as previous
        on goals.kpi = previous.kpi and goals.previous_period = previous.kpi_month
)

select
    kpi,
    domain,
    owner,
    direction,
    period,
    period_start,
    target,
    actual,
    previous,
    actual - previous as change,
    (actual - previous) / nullif(abs(previous), 0) as relative_change,
    case
        when actual is null then 'no data'
        when ahead_of_target >= 0 then 'on track'
        when -ahead_of_target <= {{ margin }} * abs(target) then 'at risk'
        else 'missed'
    end as status
from measured
