-- Each campaign's effect over all its send windows whose attribution window has closed: treated against holdout
-- (macros/effect.sql), a person counted once per send window they were in the experiment.
{{ effect_estimate(
    "(select * from " ~ ref('int_campaign_outcomes') ~ " where attribution_complete)",
    ['campaign'],
    {
        'send_windows': 'count(distinct send_window)',
        'first_send_window': 'min(send_window)',
        'last_send_window': 'max(send_window)',
    },
) }}
