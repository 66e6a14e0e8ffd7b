-- Campaign: lapsed customers whom the CLV model still values: worth winning back.
select
    customer_key,
    crm_customer_id as customer_id,
    email,
    first_name,
    language,
    last_order_date,
    round(predicted_clv, 2) as predicted_clv,
    main_interest
from {{ ref('customer_360') }}
where
    lifecycle_stage = 'lapsed'
    and predicted_clv >= {{ var('winback_min_predicted_clv') }}
    and consent_email_marketing
    and email is not null
