{{ config(materialized='view') }}
-- Web behaviour per customer: the facts int_customer_web_facts keeps incrementally, without its stamps.
select * exclude (as_of_date, built_at)
from {{ ref('int_customer_web_facts') }}
