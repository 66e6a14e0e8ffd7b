{#- Lifecycle stage and segments: the rules, written once. int_customer_lifecycle and customer_segments show them
    per customer; int_customer_360 stores them, computing them on its own join of the same models (joining the
    two views would join profile and orders once more each).
    Both macros read the aliases their callers join under: profile (int_customer_profile), orders
    (int_customer_orders), web (int_customer_web), email (int_customer_email), regions (ref_postcode_regions). -#}

{#- Thresholds are dbt vars (dbt_project.yml), checked in this order: prospect, won back, new, loyal, active,
    at risk, lapsed. -#}
{% macro lifecycle_stage() -%}
    case
        when orders.orders is null then 'prospect'
        when
            orders.recency_days <= {{ var('lifecycle_new_days') }}
            and orders.gap_before_last_order_days >= {{ var('lifecycle_winback_gap_days') }} then 'won_back'
        when orders.tenure_days <= {{ var('lifecycle_new_days') }} then 'new'
        when
            orders.recency_days <= {{ var('lifecycle_active_days') }}
            and orders.orders_last_365_days >= {{ var('lifecycle_loyal_min_orders') }} then 'loyal'
        when orders.recency_days <= {{ var('lifecycle_active_days') }} then 'active'
        when orders.recency_days <= {{ var('lifecycle_lapsed_days') }} then 'at_risk'
        else 'lapsed'
    end
{%- endmacro %}

{#- Segments, each one readable rule: edit it here, or its thresholds in dbt_project.yml. The columns come out in
    this order, after customer_key in customer_segments. -#}
{% macro segment_columns() -%}
    -- demographic
    case
        when profile.age is null then 'unknown'
        when profile.age < 25 then 'under 25'
        when profile.age < 35 then '25-34'
        when profile.age < 50 then '35-49'
        when profile.age < 65 then '50-64'
        else '65+'
    end as age_band,
    coalesce(
        profile.age between {{ var('segment_young_min_age') }} and {{ var('segment_young_max_age') }}, false
    ) as is_young_person,
    coalesce(
        profile.household_partner and profile.household_children = 0
        and profile.age between {{ var('segment_dink_min_age') }} and {{ var('segment_dink_max_age') }},
        false
    ) as is_double_income_no_kids,
    coalesce(profile.country = 'NL' and profile.language <> 'nl', false) as is_expat,
    -- geographic (ref_postcode_regions seed)
    coalesce(regions.region, 'unknown') as region,
    regions.province,
    regions.urbanity,
    coalesce(regions.income_band, 'unknown') as income_band,
    -- psychographic: what they buy first, else what they read about
    coalesce(
        case
            when orders.workshop_lines > orders.ticket_lines then 'workshop'
            when orders.ticket_lines > 0 then 'theatre'
        end,
        web.top_web_interest,
        'unknown'
    ) as main_interest,
    -- behavioural
    case
        when orders.orders is null then 'no purchase'
        when orders.monetary_value >= 500 then 'high value'
        when orders.monetary_value >= 150 then 'mid value'
        else 'low value'
    end as value_tier,
    coalesce(email.email_clicks_last_90_days, 0) > 0 or coalesce(web.web_sessions_last_90_days, 0) > 0
        as is_engaged_recently
{%- endmacro %}
