{#- What every audience row carries for activation (docs/campaigns.md), from customer_360 or a CTE over it. -#}
{% macro audience_contact_columns(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    {{ p }}customer_key,
    {{ p }}crm_customer_id as customer_id,
    {{ p }}email,
    {{ p }}phone,
    {{ p }}first_name,
    {{ p }}language,
    {{ p }}lifecycle_stage,
    {{ p }}age_band,
    {{ p }}region,
    {{ p }}main_interest,
    {{ p }}value_tier
{%- endmacro %}

{#- Who an e-mail campaign may address at all: marketing consent and an address. Send time checks again. -#}
{% macro reachable_by_email(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    {{ p }}consent_email_marketing and {{ p }}email is not null
{%- endmacro %}

{#- Who a campaign with e-mail and SMS may address: either channel's consent with its address. -#}
{% macro reachable_by_email_or_sms(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    (({{ reachable_by_email(alias) }}) or ({{ p }}consent_sms_marketing and {{ p }}phone is not null))
{%- endmacro %}
