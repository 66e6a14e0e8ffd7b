-- Each campaign's effect over its past sends (macros/effect.sql): every send window whose attribution window has
-- closed, a person once per window they were treated or held out in. Activation counts a held-out person as touched
-- (cooldown, frequency cap), so both groups come back into a campaign at the same pace; a person's windows are one
-- draw into the holdout, and the interval treats them as one (clustered by person).
{{ effect_estimate(
    "(select * from " ~ ref('int_campaign_outcomes') ~ " where attribution_complete)",
    ['campaign'],
    {
        'send_windows': 'count(distinct send_window)',
        'first_send_window': 'min(send_window)',
        'last_send_window': 'max(send_window)',
    },
) }}
