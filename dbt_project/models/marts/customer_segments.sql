-- Segments per customer. Each segment is one readable rule: edit it here, or its thresholds in dbt_project.yml.
-- A view: age bands and windows move with the day, and customer_360 stores the segments (1M customers: 0.6-1.2 s
-- a night for a second copy nobody else reads).
{{ config(materialized='view') }}

with customers as (
    select
        profile.*,
        orders.orders,
        orders.monetary_value,
        orders.ticket_lines,
        orders.workshop_lines,
        web.top_web_interest,
        web.web_sessions_last_90_days,
        email.email_clicks_last_90_days,
        regions.region,
        regions.province,
        regions.urbanity,
        regions.income_band
    from {{ ref('int_customer_profile') }} as profile
    left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
    left join {{ ref('int_customer_web') }} as web on profile.customer_key = web.customer_key
    left join {{ ref('int_customer_email') }} as email on profile.customer_key = email.customer_key
    left join {{ ref('ref_postcode_regions') }} as regions
        on profile.postcode4 = cast(regions.postcode4 as varchar)
)

select
    customer_key,
    -- demographic
    case
        when age is null then 'unknown'
        when age < 25 then 'under 25'
        when age < 35 then '25-34'
        when age < 50 then '35-49'
        when age < 65 then '50-64'
        else '65+'
    end as age_band,
    coalesce(age between {{ var('segment_young_min_age') }} and {{ var('segment_young_max_age') }}, false)
        as is_young_person,
    coalesce(
        household_partner and household_children = 0
        and age between {{ var('segment_dink_min_age') }} and {{ var('segment_dink_max_age') }},
        false
    ) as is_double_income_no_kids,
    coalesce(country = 'NL' and language <> 'nl', false) as is_expat,
    -- geographic (ref_postcode_regions seed)
    coalesce(region, 'unknown') as region,
    province,
    urbanity,
    coalesce(income_band, 'unknown') as income_band,
    -- psychographic: what they buy first, else what they read about
    coalesce(
        case
            when workshop_lines > ticket_lines then 'workshop'
            when ticket_lines > 0 then 'theatre'
        end,
        top_web_interest,
        'unknown'
    ) as main_interest,
    -- behavioural
    case
        when orders is null then 'no purchase'
        when monetary_value >= 500 then 'high value'
        when monetary_value >= 150 then 'mid value'
        else 'low value'
    end as value_tier,
    coalesce(email_clicks_last_90_days, 0) > 0 or coalesce(web_sessions_last_90_days, 0) > 0 as is_engaged_recently
from customers
