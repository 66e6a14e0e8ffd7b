-- One row per NPS answer, classified the standard way: 9-10 promoter, 7-8 passive, 0-6 detractor.
select
    response_id,
    nullif(trim(customer_id), '') as customer_id,
    {{ normalise_email('email') }} as email,
    score,
    case when score >= 9 then 'promoter' when score >= 7 then 'passive' else 'detractor' end as nps_class,
    nullif(trim(comment), '') as comment,
    lower(trim(touchpoint)) as touchpoint,
    responded_at
from {{ source('lake', 'nps_responses') }}
qualify row_number() over (partition by response_id order by load_date desc, _source_file desc) = 1
