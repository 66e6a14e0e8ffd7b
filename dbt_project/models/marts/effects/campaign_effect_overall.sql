-- Each campaign's effect over its past sends (macros/effect.sql): every person once, in the first send window they
-- were treated or held out in, among windows whose attribution window has closed. The holdout is drawn per person,
-- and a held-out person comes back in every window while a treated one waits out the cooldown: counting later
-- windows too would weigh the groups differently, and count the same few held-out people as many.
{{ effect_estimate(
    "(select * from (select *, row_number() over (partition by campaign, customer_key order by send_window)"
    ~ " as exposure from " ~ ref('int_campaign_outcomes') ~ ") as numbered"
    ~ " where exposure = 1 and attribution_complete)",
    ['campaign'],
    {
        'send_windows': 'count(distinct send_window)',
        'first_send_window': 'min(send_window)',
        'last_send_window': 'max(send_window)',
    },
) }}
