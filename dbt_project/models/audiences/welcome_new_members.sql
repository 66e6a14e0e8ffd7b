-- Campaign: welcome everyone who became a CRM customer recently and said yes to marketing e-mail.
-- One row per customer; the columns are what the message templates may use.
select
    {{ audience_contact_columns() }},
    last_name,
    first_known_at as created_at,
    {{ days_between('cast(first_known_at as date)', as_of_date()) }} as days_since_joining
from {{ ref('customer_360') }}
where
    is_crm_customer
    and {{ reachable_by_email() }}
    and cast(first_known_at as date) > {{ days_before(as_of_date(), var('welcome_window_days')) }}
    and cast(first_known_at as date) <= {{ as_of_date() }}
