-- Social KPIs per month, platform and topic: mentions, their sentiment, the share of negative mentions, and the
-- known customers behind them (identity links a mention to a customer where the listening tool names one).
select
    mention_month,
    platform,
    topic,
    count(*) as mentions,
    count(*) filter (where sentiment = 'positive') as positive_mentions,
    count(*) filter (where sentiment = 'neutral') as neutral_mentions,
    count(*) filter (where sentiment = 'negative') as negative_mentions,
    count(*) filter (where sentiment = 'negative') / count(*) as negative_share,
    -- positive 1, neutral 0, negative -1; mentions without a sentiment left out
    avg(case sentiment when 'positive' then 1.0 when 'neutral' then 0.0 when 'negative' then -1.0 end)
        as average_sentiment,
    count(distinct customer_key) as customers,
    count(distinct customer_key) filter (where sentiment = 'negative') as negative_customers
from {{ ref('int_social_mentions') }}
group by mention_month, platform, topic
