-- Campaign: customers whose engagement dropped sharply against their own history: the last 90 days hold
-- less than reengage_max_recent_share of what their previous 275 days would predict for 90 days.
with engagement as (
    select
        customer_360.*,
        coalesce(email.email_clicks_last_90_days, 0) + coalesce(web.web_sessions_last_90_days, 0) as recent,
        coalesce(email.email_clicks_prior_275_days, 0) + coalesce(web.web_sessions_prior_275_days, 0) as before
    from {{ ref('customer_360') }} as customer_360
    left join {{ ref('int_customer_email') }} as email on customer_360.customer_key = email.customer_key
    left join {{ ref('int_customer_web') }} as web on customer_360.customer_key = web.customer_key
)

select
    {{ audience_contact_columns() }},
    recent as interactions_last_90_days,
    round(before * 90.0 / 275, 1) as usual_interactions_per_90_days
from engagement
where
    before >= 4  -- enough history to speak of a decline
    and recent < {{ var('reengage_max_recent_share') }} * before * 90.0 / 275
    and {{ reachable_by_email() }}
