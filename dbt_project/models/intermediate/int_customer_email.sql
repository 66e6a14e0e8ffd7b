{{ config(materialized='view') }}
-- E-mail engagement per customer: the facts int_customer_email_facts keeps incrementally, without its stamps.
select * exclude (as_of_date, built_at)
from {{ ref('int_customer_email_facts') }}
