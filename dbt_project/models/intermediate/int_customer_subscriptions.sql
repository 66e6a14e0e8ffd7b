-- Subscription status per customer.
select
    map.customer_key,
    bool_or(subs.status = 'active' and subs.product_family = 'magazine') as has_active_magazine,
    bool_or(subs.status = 'active' and subs.product_family = 'season_ticket') as has_active_season_ticket,
    bool_or(subs.status in ('cancelled', 'expired')) as has_ended_subscription,
    min(subs.end_date) filter (where subs.status = 'active' and subs.end_date >= {{ as_of_date() }})
        as next_subscription_end_date
from {{ ref('stg_subscriptions') }} as subs
inner join {{ ref('identity_map') }} as map on map.record_id = 'subscription:' || subs.subscription_id
group by map.customer_key
