-- Campaign: lapsed customers whom the CLV model still values: worth winning back.
select
    {{ audience_contact_columns() }},
    last_order_date,
    round(predicted_clv, 2) as predicted_clv
from {{ ref('customer_360') }}
where
    lifecycle_stage = 'lapsed'
    and predicted_clv >= {{ var('winback_min_predicted_clv') }}
    and {{ reachable_by_email() }}
