-- One row per person in a campaign's experiment and send window: treated (a message or audience upload went
-- out) or holdout, and whether they reached the campaign's goal within its attribution window after the send.
-- Goals and windows come from each audience model's meta.campaign (goal, attribution_days).
{% set settings = [] %}
{% if execute %}
    {% for node in graph.nodes.values()
        if node.resource_type == 'model' and node.original_file_path.startswith('models/audiences/') %}
        {% set campaign = node.config.meta.get('campaign', {}) %}
        {% do settings.append(
            "('" ~ node.name ~ "', '" ~ campaign.get('goal', 'order') ~ "', "
            ~ campaign.get('attribution_days', var('attribution_days')) ~ ")"
        ) %}
    {% endfor %}
{% endif %}
with settings (campaign, goal, attribution_days) as (
    values {{ settings | join(', ') if settings else "('none', 'order', 14)" }}
),

exposures as (
    select
        campaign,
        send_window,
        customer_key,
        case when bool_or(status = 'held_out') then 'holdout' else 'treated' end as experiment_group,
        count(*) filter (where status = 'sent' and channel in ('email', 'sms')) as messages_sent
    from {{ ref('stg_activation_receipts') }}
    group by campaign, send_window, customer_key
    having bool_or(status = 'held_out') or bool_or(status = 'sent')
),

conversions as (
    -- what counts as reaching a goal, per person and day; none before the first send counts (at 1M customers,
    -- reading every order line took the query from 0.05 to 0.25 s)
    select
        map.customer_key,
        lines.order_date as converted_on,
        'order' as source,
        lines.category = 'workshop' as is_workshop,
        lines.line_amount as revenue
    from {{ ref('stg_erp_order_lines') }} as lines
    -- the order's customer as int_orders has it: the same as identity_map's, on a smaller table and key
    inner join {{ ref('int_orders') }} as map on lines.order_id = map.order_id
    where
        lines.status = 'completed'
        and lines.order_date > (select min(first_send.send_window) from exposures as first_send)
    union all
    select
        map.customer_key,
        subs.start_date as converted_on,
        'subscription' as source,
        false as is_workshop,
        subs.price_eur as revenue
    from {{ ref('stg_subscriptions') }} as subs
    inner join {{ ref('identity_map') }} as map on map.record_id = 'subscription:' || subs.subscription_id
    where subs.start_date > (select min(first_send.send_window) from exposures as first_send)
)

select
    exposures.campaign,
    exposures.send_window,
    exposures.customer_key,
    exposures.experiment_group,
    exposures.messages_sent,
    settings.goal,
    settings.attribution_days,
    exposures.send_window + settings.attribution_days <= {{ as_of_date() }} as attribution_complete,
    count(conversions.converted_on) > 0 as converted,
    coalesce(sum(conversions.revenue), 0) as revenue
from exposures
inner join settings on exposures.campaign = settings.campaign
left join conversions
    on
        exposures.customer_key = conversions.customer_key
        and exposures.send_window < conversions.converted_on
        and exposures.send_window + settings.attribution_days >= conversions.converted_on
        and case settings.goal
            when 'order' then conversions.source = 'order'
            when 'workshop_registration' then conversions.is_workshop
            when 'subscription' then conversions.source = 'subscription'
        end
group by all
