{#- What every audience row carries for activation (docs/campaigns.md), from customer_360 or a CTE over it. -#}
{% macro audience_contact_columns(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    {{ p }}customer_key,
    {{ p }}crm_customer_id as customer_id,
    {{ p }}email,
    {{ p }}first_name,
    {{ p }}language
{%- endmacro %}

{#- Who an e-mail campaign may address at all: marketing consent and an address. Send time checks again. -#}
{% macro reachable_by_email(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    {{ p }}consent_email_marketing and {{ p }}email is not null
{%- endmacro %}
