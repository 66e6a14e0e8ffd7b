-- Campaign: people who started a workshop sign-up on the website and did not finish it, unless the ERP
-- shows they registered for that workshop since. One row per customer: their most recent abandoned workshop.
with funnel as (
    select
        visitor_id,
        split_part(page_path, '/', 3) as workshop_slug,
        event_name,
        visit_date
    from {{ ref('stg_ga4_web') }}
    where
        event_name in ('workshop_signup_start', 'workshop_signup_complete')
        -- a completion counts from its start on, so both lie within the window: the days before are not read
        and visit_date > {{ days_before(as_of_date(), var('abandoner_window_days')) }}
),

abandoned as (
    select
        starts.visitor_id,
        starts.workshop_slug,
        max(starts.visit_date) as started_on
    from funnel as starts
    where
        starts.event_name = 'workshop_signup_start'
        and starts.visit_date > {{ days_before(as_of_date(), var('abandoner_window_days')) }}
        and starts.visit_date <= {{ as_of_date() }}
        and not exists (
            select 1 from funnel as done
            where
                done.event_name = 'workshop_signup_complete'
                and done.visitor_id = starts.visitor_id
                and done.workshop_slug = starts.workshop_slug
                and done.visit_date >= starts.visit_date
        )
    group by starts.visitor_id, starts.workshop_slug
),

registrations as (
    select
        map.customer_key,
        substr(lines.product_id, 4) as workshop_slug,
        max(lines.order_date) as registered_on,
        any_value(lines.product_name) as workshop_name
    from {{ ref('stg_erp_order_lines') }} as lines
    inner join {{ ref('identity_map') }} as map on map.record_id = 'order:' || lines.order_id
    where
        lines.category = 'workshop' and lines.status = 'completed' and lines.product_id like 'WS-%'
        -- a registration counts from the start on, which lies within the window
        and lines.order_date > {{ days_before(as_of_date(), var('abandoner_window_days')) }}
    group by map.customer_key, substr(lines.product_id, 4)
),

workshop_names as (
    select
        substr(product_id, 4) as workshop_slug,
        any_value(product_name) as workshop_name
    from {{ ref('stg_erp_order_lines') }}
    where category = 'workshop' and product_id like 'WS-%'
    group by substr(product_id, 4)
),

candidates as (
    select
        map.customer_key,
        abandoned.workshop_slug,
        abandoned.started_on,
        abandoned.visitor_id
    from abandoned
    inner join {{ ref('identity_map') }} as map on map.record_id = 'ga4:' || abandoned.visitor_id
    where not exists (
        select 1 from registrations
        where
            registrations.customer_key = map.customer_key
            and registrations.workshop_slug = abandoned.workshop_slug
            and registrations.registered_on >= abandoned.started_on
    )
)

select
    {{ audience_contact_columns('customers') }},
    candidates.workshop_slug,
    coalesce(
        workshop_names.workshop_name,
        upper(left(candidates.workshop_slug, 1)) || replace(substr(candidates.workshop_slug, 2), '-', ' ')
    ) as workshop_name,
    candidates.started_on,
    candidates.visitor_id
from candidates
inner join {{ ref('customer_360') }} as customers on candidates.customer_key = customers.customer_key
left join workshop_names on candidates.workshop_slug = workshop_names.workshop_slug
where {{ reachable_by_email_or_sms('customers') }}
qualify row_number() over (
    partition by candidates.customer_key order by candidates.started_on desc, candidates.workshop_slug asc
) = 1
