-- Campaign: welcome everyone who became a customer recently and said yes to marketing e-mail.
-- One row per customer; the columns are what the message templates may use.
select
    customer_id,
    email,
    first_name,
    last_name,
    language,
    created_at,
    date_diff('day', cast(created_at as date), {{ as_of_date() }}) as days_since_joining
from {{ ref('stg_crm_customers') }}
where
    consent_email_marketing
    and email is not null
    and cast(created_at as date) > {{ as_of_date() }} - interval {{ var('welcome_window_days') }} day
    and cast(created_at as date) <= {{ as_of_date() }}
