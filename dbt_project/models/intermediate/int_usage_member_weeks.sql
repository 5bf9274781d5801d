-- the users and features active per customer and ISO week, with their first and last active
-- day in that week: enough to count distinct members over any [D - 30, D) window exactly
-- (a distinct count cannot be summed from daily totals)

with

events as (

    select * from {{ ref('stg_usage__events') }}
    where is_valid

),

users as (

    select
        customer_id,
        'user' as member_type,
        user_id as member,
        {{ week_start('event_date') }} as week_start,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date

    from events
    where user_id is not null
    group by customer_id, user_id, {{ week_start('event_date') }}

),

features as (

    select
        customer_id,
        'feature' as member_type,
        feature as member,
        {{ week_start('event_date') }} as week_start,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date

    from events
    where feature is not null
    group by customer_id, feature, {{ week_start('event_date') }}

)

select * from users
union all
select * from features
