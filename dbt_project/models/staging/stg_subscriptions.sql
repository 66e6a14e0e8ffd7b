-- One row per subscription: its newest version.
select
    subscription_id,
    customer_id,
    lower(trim(product)) as product,
    case when lower(trim(product)) like 'magazine%' then 'magazine' else 'season_ticket' end as product_family,
    start_date,
    end_date,
    lower(trim(status)) as status,
    price_eur,
    updated_at
from {{ source('lake', 'subscriptions') }}
qualify row_number() over (
    partition by subscription_id order by updated_at desc, load_date desc, _source_file desc
) = 1
