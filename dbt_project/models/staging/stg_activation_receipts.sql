-- One row per campaign, send window, person and channel: the latest outcome over the window's runs.
-- A person held out has one row, on the channel their message would have gone (null without a message channel).
select
    campaign,
    send_window,
    customer_key,
    channel,
    message_key,
    status,
    reason,
    recorded_at
from {{ source('lake', 'activation_receipts') }}
qualify row_number() over (
    partition by campaign, send_window, customer_key, coalesce(channel, '')
    order by recorded_at desc, run_id desc
) = 1
