{% macro effect_estimate(outcomes, grain, extra={}) %}
{#- Treated against holdout over the rows of `outcomes` (int_campaign_outcomes' columns), one row per `grain`: a 95%
    confidence interval for the difference in conversion rates (normal approximation, unpooled standard error) and
    the minimum detectable effect at 80% power, so a holdout too small to tell says so instead of reporting noise.
    The holdout is drawn per person, so a person's rows are one draw: the standard error of each group's rate is
    the cluster-robust one of a ratio (each person's conversions minus the rate times their rows, squared, summed),
    which is the binomial one (times m / (m - 1)) when every person has one row, as in one send window.
    `extra`: more columns of each group (name -> aggregate), after the grain. -#}
with groups as (
    select
        {% for column in grain %}{{ column }},{% endfor %}
        {% for name, aggregate in extra.items() %}{{ aggregate }} as {{ name }},{% endfor %}
        any_value(goal) as goal,
        any_value(attribution_days) as attribution_days,
        bool_and(attribution_complete) as attribution_complete,
        count(*) filter (where experiment_group = 'treated') as treated,
        count(*) filter (where experiment_group = 'holdout') as held_out,
        count(distinct case when experiment_group = 'treated' then customer_key end) as treated_people,
        count(distinct case when experiment_group = 'holdout' then customer_key end) as held_out_people,
        count(*) filter (where experiment_group = 'treated' and converted) as treated_conversions,
        count(*) filter (where experiment_group = 'holdout' and converted) as holdout_conversions,
        coalesce(sum(revenue) filter (where experiment_group = 'treated'), 0) as treated_revenue,
        coalesce(sum(revenue) filter (where experiment_group = 'holdout'), 0) as holdout_revenue,
        sum(messages_sent) as messages_sent
    from {{ outcomes }} as outcomes
    group by {{ grain | join(', ') }}
),

rates as (
    select
        *,
        treated_conversions / nullif(treated, 0) as treated_rate,
        holdout_conversions / nullif(held_out, 0) as holdout_rate,
        (treated_conversions + holdout_conversions) / nullif(treated + held_out, 0) as pooled_rate
    from groups
),

people as (
    select
        {% for column in grain %}{{ column }},{% endfor %}
        experiment_group,
        count(*) as rows_of_person,
        count(*) filter (where converted) as conversions_of_person
    from {{ outcomes }} as outcomes
    group by {{ grain | join(', ') }}, experiment_group, customer_key
),

spread as (
    select
        {% for column in grain %}rates.{{ column }},{% endfor %}
        sum(power(people.conversions_of_person - rates.treated_rate * people.rows_of_person, 2))
            filter (where people.experiment_group = 'treated') as treated_squares,
        sum(power(people.conversions_of_person - rates.holdout_rate * people.rows_of_person, 2))
            filter (where people.experiment_group = 'holdout') as holdout_squares
    from people
    inner join rates on {% for column in grain %}{{ 'and ' if not loop.first }}people.{{ column }} = rates.{{ column }} {% endfor %}
    group by {% for column in grain %}{{ ', ' if not loop.first }}rates.{{ column }}{% endfor %}
),

variances as (
    select
        rates.*,
        spread.treated_squares * rates.treated_people / nullif(rates.treated_people - 1, 0)
        / nullif(rates.treated * rates.treated, 0) as treated_variance,
        spread.holdout_squares * rates.held_out_people / nullif(rates.held_out_people - 1, 0)
        / nullif(rates.held_out * rates.held_out, 0) as holdout_variance
    from rates
    inner join spread on {% for column in grain %}{{ 'and ' if not loop.first }}rates.{{ column }} = spread.{{ column }} {% endfor %}
),

stats as (
    select
        *,
        treated_rate - holdout_rate as uplift,
        sqrt(treated_variance + holdout_variance) as standard_error,
        -- (z 0.975 + z 0.80) * standard error under the pooled rate, each group's rows weighed by its design
        -- effect (its variance against the binomial one of as many independent rows; 1 where that is 0)
        (1.959964 + 0.841621) * sqrt(
            pooled_rate * (1 - pooled_rate) * (
                coalesce(treated_variance / nullif(treated_rate * (1 - treated_rate), 0), 1.0 / nullif(treated, 0))
                + coalesce(holdout_variance / nullif(holdout_rate * (1 - holdout_rate), 0), 1.0 / nullif(held_out, 0))
            )
        ) as minimum_detectable_effect
    from variances
)

select
    {% for column in grain %}{{ column }},{% endfor %}
    {% for name in extra %}{{ name }},{% endfor %}
    goal,
    attribution_days,
    attribution_complete,
    treated,
    held_out,
    treated_people,
    held_out_people,
    treated_conversions,
    holdout_conversions,
    treated_rate,
    holdout_rate,
    uplift,
    uplift / nullif(holdout_rate, 0) as relative_uplift,
    -- a difference of two shares lies within [-1, 1]: so does its interval
    greatest(uplift - 1.959964 * standard_error, -1) as uplift_ci_low,
    least(uplift + 1.959964 * standard_error, 1) as uplift_ci_high,
    minimum_detectable_effect,
    coalesce(uplift - 1.959964 * standard_error > 0 or uplift + 1.959964 * standard_error < 0, false)
        as significant,
    case
        when held_out = 0 or treated = 0 then 'no holdout'
        when
            held_out_people < {{ var('effect_min_group_size') }}
            or minimum_detectable_effect > {{ var('effect_max_mde') }}
            then 'holdout too small to tell'
        when uplift - 1.959964 * standard_error > 0 then 'uplift'
        when uplift + 1.959964 * standard_error < 0 then 'harm'
        else 'no measurable effect'
    end as verdict,
    messages_sent,
    treated_revenue / nullif(treated, 0) - holdout_revenue / nullif(held_out, 0) as incremental_revenue_per_person,
    (treated_revenue / nullif(treated, 0) - holdout_revenue / nullif(held_out, 0)) * treated
    / nullif(messages_sent, 0) as incremental_revenue_per_message
from stats
{% endmacro %}
