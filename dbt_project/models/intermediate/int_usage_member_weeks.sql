-- the users and features active per customer and ISO week, with their first and last active
-- day in that week: enough to count distinct members over any [D - 30, D) window exactly
-- (a distinct count cannot be summed from daily totals).
-- incremental: new events widen the member-weeks they fall in, late weeks included
{{ incremental_by_customer_date(['customer_id', 'member_type', 'member', 'week_start'], 'week_start') }}
{%- set incremental = incremental_branch() %}

with

events as (

    select * from {{ ref('stg_usage__events') }}
    where is_valid
    {% if incremental %}
        and loaded_at > (select max(counted.loaded_at) from {{ this }} as counted)
    {% endif %}

),

users as (

    select
        customer_id,
        'user' as member_type,
        user_id as member,
        {{ week_start('event_date') }} as week_start,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date,
        max(loaded_at) as loaded_at

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
        max(event_date) as last_active_date,
        max(loaded_at) as loaded_at

    from events
    where feature is not null
    group by customer_id, feature, {{ week_start('event_date') }}

),

new_member_weeks as (

    select * from users
    union all
    select * from features

),

{% if incremental %}
    counted as (

        -- the member-weeks already counted that the new events touch: joined from the new
        -- ones, so the warehouse probes the table rather than building a hash table of it
        select counted.*

        from {{ this }} as counted
        inner join new_member_weeks
            on
                counted.customer_id = new_member_weeks.customer_id
                and counted.member_type = new_member_weeks.member_type
                and counted.member = new_member_weeks.member
                and counted.week_start = new_member_weeks.week_start

    ),
{% endif %}

member_weeks as (

    {% if incremental %}
        -- a member-week seen before keeps its earliest first and latest last active day
        select
            new_member_weeks.customer_id,
            new_member_weeks.member_type,
            new_member_weeks.member,
            new_member_weeks.week_start,
            case
                when counted.first_active_date < new_member_weeks.first_active_date
                    then counted.first_active_date
                else new_member_weeks.first_active_date
            end as first_active_date,
            case
                when counted.last_active_date > new_member_weeks.last_active_date
                    then counted.last_active_date
                else new_member_weeks.last_active_date
            end as last_active_date,
            new_member_weeks.loaded_at

        from new_member_weeks
        left join counted
            on
                new_member_weeks.customer_id = counted.customer_id
                and new_member_weeks.member_type = counted.member_type
                and new_member_weeks.member = counted.member
                and new_member_weeks.week_start = counted.week_start
    {% else %}
        select * from new_member_weeks
    {% endif %}

)

select * from member_weeks
