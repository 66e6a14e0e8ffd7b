-- One row per social mention.
select
    mention_id,
    lower(trim(platform)) as platform,
    lower(trim(handle)) as handle,
    text as mention_text,
    lower(nullif(trim(sentiment), '')) as sentiment,
    nullif(trim(customer_id), '') as customer_id,
    posted_at
from {{ source('lake', 'social_mentions') }}
qualify row_number() over (partition by mention_id order by load_date desc, _source_file desc) = 1
