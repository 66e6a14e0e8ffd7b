-- One row per e-mail event, deduplicated across deliveries.
select
    event_id,
    subscriber_id,
    {{ normalise_email('email') }} as email,
    lower(trim(event_type)) as event_type,
    event_at,
    cast(event_at as date) as event_date,
    nullif(trim(mailing_id), '') as mailing_id,
    nullif(trim(url), '') as url,
    nullif(trim(tracking_id), '') as tracking_id
from {{ source('lake', 'esp_events') }}
qualify row_number() over (partition by event_id order by load_date desc, _source_file desc) = 1
