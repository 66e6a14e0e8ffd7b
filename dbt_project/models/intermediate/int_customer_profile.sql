{{ config(materialized='view') }}
-- Who the customer is: the profile int_customer_profile_facts keeps incrementally, with the age on the run's day.
select
    * exclude (built_at),
    case
        when birth_date is not null then
            date_diff('year', birth_date, {{ as_of_date() }})
            - case
                when strftime({{ as_of_date() }}, '%m%d') < strftime(birth_date, '%m%d') then 1 else 0
            end
    end as age
from {{ ref('int_customer_profile_facts') }}
