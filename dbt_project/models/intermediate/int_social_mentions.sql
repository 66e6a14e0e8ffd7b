-- Each social mention with its month, topic (seed social_topics: the matching keyword of lowest priority number,
-- else "other") and the customer behind it where identity links the mention to a known customer.
with topics as (
    select
        mentions.mention_id,
        min_by(topics.topic, topics.priority) as topic
    from {{ ref('stg_social_mentions') }} as mentions
    inner join {{ ref('social_topics') }} as topics
        on lower(mentions.mention_text) like '%' || lower(topics.keyword) || '%'
    group by mentions.mention_id
)

select
    mentions.mention_id,
    mentions.platform,
    coalesce(topics.topic, 'other') as topic,
    coalesce(mentions.sentiment, 'unknown') as sentiment,
    mentions.posted_at,
    {{ month_of('mentions.posted_at') }} as mention_month,
    customers.customer_key
from {{ ref('stg_social_mentions') }} as mentions
left join topics on mentions.mention_id = topics.mention_id
left join {{ ref('identity_map') }} as map on map.record_id = 'social:' || mentions.mention_id
-- a known customer only: a mention nobody is linked to is a person of its own in identity_map
left join {{ ref('int_customer_profile') }} as customers on map.customer_key = customers.customer_key
