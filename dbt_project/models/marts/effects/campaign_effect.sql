-- Each campaign's effect per send window: treated against holdout (macros/effect.sql).
{{ effect_estimate(ref('int_campaign_outcomes'), ['campaign', 'send_window']) }}
