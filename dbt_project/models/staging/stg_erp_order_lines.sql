{{ config(
    materialized='incremental',
    unique_key=['order_id', 'line_no'],
    incremental_strategy=incremental_strategy_for('rows'),
    tags=['daily'],
    on_schema_change='append_new_columns',
) }}
-- One row per order line: its newest version. Refunds are lines of their own with negative amounts.
-- Incremental on the day a version was written (macros/incremental.sql): a nightly run takes in the lines
-- created or changed in the last days (a cancellation or refund of an old order included) and replaces their
-- older versions, so the key is the line, not the day.
select
    order_id,
    line_no,
    order_id || '-' || cast(line_no as string) as order_line_id,
    nullif(trim(customer_id), '') as customer_id,
    {{ normalise_email('email') }} as email,
    order_at,
    cast(order_at as date) as order_date,
    product_id,
    {{ clean_text('product_name') }} as product_name,
    lower(trim(category)) as category,
    event_date,
    quantity,
    unit_price,
    line_amount,
    upper(trim(currency)) as currency,
    lower(trim(status)) as status,
    updated_at
from {{ source('lake', 'erp_orders') }}
where {{ days_to_build('cast(updated_at as date)') }}
qualify row_number() over (
    partition by order_id, line_no order by updated_at desc, load_date desc, _source_file desc
) = 1
