-- The core of the middle written by hand as one DuckDB script, the yardstick for `dbt build` (bench/middle.py):
-- dedupe the sources, link every record by its identifiers with the same over-merge guard, connected
-- components (label propagation, iterated by bench/middle.py until stable), per-customer order, e-mail and
-- web metrics, the lifecycle stage, and one audience. {lake} and {as_of} are filled in by bench/middle.py.
-- Statements are separated by lines holding only "-- step"; "-- repeat" marks the propagation step.

-- step
create or replace macro lake(name) as table
    select * from read_parquet('{lake}/' || name || '/load_date=*/*.parquet', hive_partitioning = true,
                               union_by_name = true);
create or replace macro email(c) as nullif(lower(trim(c)), '');
create or replace macro digits(c) as regexp_replace(c, '[^0-9]', '', 'g');
create or replace macro phone(c) as case
    when nullif(digits(c), '') is null then null
    when trim(c) like '+%' then '+' || digits(c)
    when digits(c) like '00%' then '+' || substr(digits(c), 3)
    when digits(c) like '0%' then '+31' || substr(digits(c), 2)
    else '+' || digits(c) end;
-- step
create table crm as
select customer_id, email(email) as email, phone(phone) as phone, created_at,
       coalesce(consent_email_marketing, false) as consent_email_marketing
from lake('crm_customers')
qualify row_number() over (partition by customer_id order by updated_at desc, load_date desc, _source_file desc) = 1;
-- step
create table order_lines as
select order_id, nullif(trim(customer_id), '') as customer_id, email(email) as email,
       cast(order_at as date) as order_date, lower(trim(category)) as category, line_amount,
       lower(trim(status)) as status
from lake('erp_orders')
qualify row_number() over (
    partition by order_id, line_no order by updated_at desc, load_date desc, _source_file desc) = 1;
-- step
create table email_daily as
select cast(event_at as date) as event_date, subscriber_id,
       any_value(email(email)) as email, any_value(nullif(trim(tracking_id), '')) as tracking_id,
       count(*) filter (where event_type = 'send') as sends,
       count(*) filter (where event_type = 'open') as opens,
       count(*) filter (where event_type = 'click') as clicks
from (
    select * from lake('esp_events')
    qualify row_number() over (partition by event_id order by load_date desc, _source_file desc) = 1
)
where cast(event_at as date) <= date '{as_of}'
group by all;
-- step
create table web_daily as
select date as visit_date, visitor_id, sum(sessions) as sessions,
       sum(event_count) filter (where event_name = 'page_view') as page_views
from lake('ga4_web')
where visitor_id <> '(not set)' and date <= date '{as_of}'
group by all;
-- step
create table links as
with raw as (
    select 'crm:' || customer_id as record_id, 'crm' as source, 'crm_id' as kind, customer_id as value from crm
    union all select 'crm:' || customer_id, 'crm', 'email', email from crm
    union all select 'crm:' || customer_id, 'crm', 'phone', phone from crm
    union all select 'lead:' || lead_id, 'lead', 'email', email(email) from lake('leads')
    union all select 'lead:' || lead_id, 'lead', 'phone', phone(phone) from lake('leads')
    union all select distinct 'esp:' || subscriber_id, 'esp', 'email', email from email_daily
    union all select distinct 'esp:' || subscriber_id, 'esp', 'visitor_id', tracking_id from email_daily
    union all select distinct 'ga4:' || visitor_id, 'ga4', 'visitor_id', visitor_id from web_daily
    union all select distinct 'order:' || order_id, 'order', 'crm_id', customer_id from order_lines
    union all select distinct 'order:' || order_id, 'order', 'email', email from order_lines
    union all select 'subscription:' || subscription_id, 'subscription', 'crm_id', customer_id
    from lake('subscriptions')
    union all select 'ticket:' || ticket_id, 'ticket', 'crm_id', customer_id from lake('service_tickets')
    union all select 'ticket:' || ticket_id, 'ticket', 'email', email(email) from lake('service_tickets')
    union all select 'nps:' || response_id, 'nps', 'crm_id', customer_id from lake('nps_responses')
    union all select 'nps:' || response_id, 'nps', 'email', email(email) from lake('nps_responses')
    union all select 'social:' || mention_id, 'social', 'crm_id', customer_id from lake('social_mentions')
),
usage as (
    select kind, value,
           count(distinct record_id) filter (where source = 'crm') as crm_customers,
           count(distinct record_id) filter (where source in ('crm', 'lead')) as people
    from raw where value is not null group by all
)
select distinct raw.record_id, raw.source, raw.kind, raw.value,
       raw.value is not null and (raw.kind = 'crm_id' or (usage.crm_customers <= 1 and usage.people <= 3)) as usable
from raw left join usage using (kind, value);
-- step
create table label as
select record_id, min(record_id) over (partition by kind, value) as label
from links where usable
union all
select distinct record_id, record_id from links;
create table record_label as select record_id, min(label) as label from label group by record_id;
-- repeat
create or replace table record_label as
with by_identifier as (
    select links.kind, links.value, min(record_label.label) as label
    from links join record_label using (record_id)
    where links.usable group by all
)
select links.record_id, least(min(record_label.label), coalesce(min(by_identifier.label), min(record_label.label))) as label
from links
join record_label using (record_id)
left join by_identifier on links.usable and by_identifier.kind = links.kind and by_identifier.value = links.value
group by links.record_id;
-- step
create table identity_map as
select record_id, md5(coalesce(min(record_id) filter (where record_id like 'crm:%')
                               over (partition by label), label)) as customer_key
from record_label;
-- step
create table customer_orders as
with orders as (
    select m.customer_key, l.order_id, min(l.order_date) as order_date, sum(l.line_amount) as amount
    from order_lines l join identity_map m on m.record_id = 'order:' || l.order_id
    where l.status in ('completed', 'refunded')
    group by all having sum(l.line_amount) > 0
),
gaps as (
    select customer_key, order_date,
           order_date - lag(order_date) over (partition by customer_key order by order_date, order_id) as gap_days
    from orders
)
select customer_key, count(*) as orders, min(order_date) as first_order_date, max(order_date) as last_order_date,
       sum(amount) as monetary_value, avg(amount) as average_order_value,
       count(*) filter (where order_date > date '{as_of}' - 365) as orders_last_365_days,
       date '{as_of}' - max(order_date) as recency_days, date '{as_of}' - min(order_date) as tenure_days,
       (select arg_max(g.gap_days, g.order_date) from gaps g where g.customer_key = orders.customer_key) as last_gap
from orders group by customer_key;
-- step
create table customer_email as
select m.customer_key, sum(sends) as sends, sum(opens) as opens, sum(clicks) as clicks,
       sum(opens + clicks) filter (where event_date > date '{as_of}' - 90) as interactions_90
from email_daily e join identity_map m on m.record_id = 'esp:' || e.subscriber_id
group by all;
-- step
create table customer_web as
select m.customer_key, sum(sessions) as sessions, sum(page_views) as page_views, max(visit_date) as last_visit
from web_daily w join identity_map m on m.record_id = 'ga4:' || w.visitor_id
group by all;
-- step
create table customer_metrics as
select m.customer_key, any_value(crm.email) as email, bool_or(crm.consent_email_marketing) as consent_email,
       any_value(o.orders) as orders, any_value(o.recency_days) as recency_days,
       any_value(o.monetary_value) as monetary_value, any_value(e.clicks) as email_clicks,
       any_value(w.sessions) as web_sessions,
       case
           when any_value(o.orders) is null then 'prospect'
           when any_value(o.recency_days) <= 90 and any_value(o.last_gap) >= 365 then 'won_back'
           when any_value(o.tenure_days) <= 90 then 'new'
           when any_value(o.recency_days) <= 365 and any_value(o.orders_last_365_days) >= 3 then 'loyal'
           when any_value(o.recency_days) <= 365 then 'active'
           when any_value(o.recency_days) <= 540 then 'at_risk'
           else 'lapsed'
       end as lifecycle_stage
from identity_map m
left join crm on m.record_id = 'crm:' || crm.customer_id
left join customer_orders o using (customer_key)
left join customer_email e using (customer_key)
left join customer_web w using (customer_key)
group by m.customer_key
-- a customer is someone known by more than a web visit (as in int_customer_profile)
having bool_or(split_part(m.record_id, ':', 1) in ('crm', 'lead', 'esp', 'order', 'ticket', 'nps'));
-- step
create table audience_lapsed as
select customer_key, email, monetary_value
from customer_metrics
where lifecycle_stage = 'lapsed' and consent_email and email is not null
qualify monetary_value >= quantile_cont(monetary_value, 0.75) over ();
