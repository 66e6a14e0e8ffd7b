{#- Every KPI kpi_values computes: its name, the CTE of kpi_values it comes from, that CTE's month column and
    its value column. A goal (seeds/kpi_goals.csv) may name any of them, whether or not its sources have
    delivered anything yet (tests/kpi_goals_name_known_kpis.sql). -#}
{% macro kpi_definitions() %}
    {{ return([
        ('new_customers', 'lifecycle', 'order_month', 'new_customers'),
        ('repeat_customers', 'lifecycle', 'order_month', 'repeat_customers'),
        ('won_back_customers', 'lifecycle', 'order_month', 'won_back_customers'),
        ('revenue', 'lifecycle', 'order_month', 'revenue'),
        ('average_order_value', 'lifecycle', 'order_month', 'average_order_value'),
        ('email_open_rate', 'email', 'event_month', 'open_rate'),
        ('email_click_rate', 'email', 'event_month', 'click_rate'),
        ('web_sessions', 'web', 'visit_month', 'sessions'),
        ('workshop_signups_completed', 'web', 'visit_month', 'workshop_signups_completed'),
        ('nps', 'satisfaction', 'month', 'nps'),
        ('complaint_rate', 'satisfaction', 'month', 'complaint_rate'),
        ('social_mentions', 'social', 'mention_month', 'mentions'),
        ('negative_mention_share', 'social', 'mention_month', 'negative_share'),
        ('campaign_reach_share', 'journeys', 'send_month', 'reach_share'),
    ]) }}
{% endmacro %}
