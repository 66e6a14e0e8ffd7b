-- Campaign: active subscribers (magazine or season ticket) who look likely to leave and are worth keeping.
select
    {{ audience_contact_columns() }},
    round(probability_alive, 3) as probability_alive,
    round(predicted_clv, 2) as predicted_clv,
    case when has_active_season_ticket then 'season_ticket' else 'magazine' end as subscription
from {{ ref('customer_360') }}
where
    (has_active_magazine or has_active_season_ticket)
    and probability_alive < {{ var('churn_risk_max_probability_alive') }}
    and predicted_clv >= {{ var('churn_risk_min_predicted_clv') }}
    and {{ reachable_by_email() }}
