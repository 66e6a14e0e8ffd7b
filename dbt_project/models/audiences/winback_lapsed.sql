-- Campaign: lapsed customers whom the CLV model still values most: worth winning back.
-- "Most" is relative (the top share of lapsed customers by predicted CLV), so the campaign keeps its
-- best prospects whether the model values lapsed customers at 20 or at 200 euro.
with lapsed as (
    select * from {{ ref('customer_360') }}
    where lifecycle_stage = 'lapsed' and predicted_clv > 0
),

threshold as (
    select
        percentile_cont(1 - {{ var('winback_top_share') }}) within group (order by predicted_clv)
            as min_predicted_clv
    from lapsed
)

select
    {{ audience_contact_columns('lapsed') }},
    lapsed.last_order_date,
    round(lapsed.predicted_clv, 2) as predicted_clv
from lapsed
cross join threshold
where
    lapsed.predicted_clv >= threshold.min_predicted_clv
    and {{ reachable_by_email('lapsed') }}
