-- customer_360 as stored: one row per customer, everything but the predicted CLV (a Python model, which
-- customer_360 adds). The lifecycle stage and segments come from the rules in macros/customer_rules.sql, on this
-- one join.
select
    profile.*,
    {% for purpose in var('consent_purposes') %}
        coalesce(consent.consent_{{ purpose }}, false) as consent_{{ purpose }},
    {% endfor %}
    coalesce(consent.has_unclear_consent, false) as has_unclear_consent,
    coalesce(orders.orders, 0) as orders,
    orders.first_order_date,
    orders.last_order_date,
    orders.recency_days,
    coalesce(orders.monetary_value, 0) as monetary_value,
    orders.average_order_value,
    coalesce(orders.orders_last_365_days, 0) as orders_last_365_days,
    orders.categories_bought,
    coalesce(subs.has_active_magazine, false) as has_active_magazine,
    coalesce(subs.has_active_season_ticket, false) as has_active_season_ticket,
    subs.next_subscription_end_date,
    coalesce(email.emails_sent, 0) as emails_sent,
    coalesce(email.email_opens, 0) as email_opens,
    coalesce(email.email_clicks, 0) as email_clicks,
    email.last_email_click_at,
    coalesce(email.has_unsubscribed, false) as has_unsubscribed,
    coalesce(web.web_sessions, 0) as web_sessions,
    coalesce(web.web_page_views, 0) as web_page_views,
    web.last_visit_date,
    web.top_web_interest,
    coalesce(service.service_contacts, 0) as service_contacts,
    coalesce(service.complaints, 0) as complaints,
    service.last_nps_score,
    service.last_nps_class,
    -- customer_360 fills these in from int_customer_clv
    cast(null as double) as predicted_purchases,
    cast(null as double) as probability_alive,
    cast(null as double) as predicted_order_value,
    cast(null as double) as predicted_clv,
    {{ lifecycle_stage() }} as lifecycle_stage,
    {{ segment_columns() }}
from {{ ref('int_customer_profile') }} as profile
left join {{ ref('int_customer_consent') }} as consent on profile.customer_key = consent.customer_key
left join {{ ref('int_customer_orders') }} as orders on profile.customer_key = orders.customer_key
left join {{ ref('int_customer_subscriptions') }} as subs on profile.customer_key = subs.customer_key
left join {{ ref('int_customer_email') }} as email on profile.customer_key = email.customer_key
left join {{ ref('int_customer_web') }} as web on profile.customer_key = web.customer_key
left join {{ ref('int_customer_service') }} as service on profile.customer_key = service.customer_key
left join {{ ref('ref_postcode_regions') }} as regions on profile.postcode4 = cast(regions.postcode4 as string)
