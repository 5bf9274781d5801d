-- distinct users and features with an event in [D - 30, D).
-- full build: a member active on day x counts for the snapshots D in (x, x + 30]. Its active
-- weeks merge into runs while the gap between them is at most 30 days; a run from s to e counts
-- for D in (s, e + 30]. So each run adds +1 on day s + 1 and -1 on day e + 31, and a running
-- total of those steps read at D is the number of members active in the window: one pass over
-- all member-weeks for every snapshot.
-- incremental: only the snapshots new usage can change (after the earliest week that received
-- events since the last run) and spine rows never computed, counted directly: D - 30 is a
-- Saturday, so a member is in the window exactly when one of its weeks starting in
-- [D - 35, D) has its last active day on or after D - 30.
{{ incremental_by_customer_date(['customer_id', 'as_of_date'], 'as_of_date') }}
{%- set incremental = incremental_branch() %}

with

member_weeks as (

    select * from {{ ref('int_usage_member_weeks') }}

),

spine as (

    select
        customer_id,
        as_of_date
    from {{ ref('int_customer_weeks') }}

),

usage_watermark as (

    -- the latest usage load these counts include: the next run starts after it
    select max(loaded_at) as usage_loaded_at from member_weeks

),

targets as (

    select
        spine.customer_id,
        spine.as_of_date

    from spine
    {% if incremental %}
        {{ snapshots_to_recompute('spine', 'member_weeks', 'week_start') }}
    {% endif %}

),

window_start as (

    -- the oldest week any target snapshot reads
    select {{ add_days('min(as_of_date)', -35) }} as first_week_start from targets

),

window_members as (

    select
        targets.customer_id,
        targets.as_of_date,
        member_weeks.member_type,
        member_weeks.member

    from targets
    inner join member_weeks
        on
            targets.customer_id = member_weeks.customer_id
            and targets.as_of_date > member_weeks.week_start
            and {{ add_days('targets.as_of_date', -35) }} <= member_weeks.week_start
            and {{ add_days('targets.as_of_date', -30) }} <= member_weeks.last_active_date
    cross join window_start
    where member_weeks.week_start >= window_start.first_week_start

),

-- read by an incremental run only (a full build reads running_counts)
direct_counts as (  -- noqa: ST03

    select
        targets.customer_id,
        targets.as_of_date,
        count(distinct case
            when window_members.member_type = 'user' then window_members.member
        end) as active_users_30d,
        count(distinct case
            when window_members.member_type = 'feature' then window_members.member
        end) as distinct_features_30d

    from targets
    left join window_members
        on
            targets.customer_id = window_members.customer_id
            and targets.as_of_date = window_members.as_of_date
    group by targets.customer_id, targets.as_of_date

),

spine_customers as (

    select distinct customer_id from spine

),

neighbours as (

    select
        customer_id,
        member_type,
        first_active_date,
        last_active_date,
        lag(last_active_date) over (
            partition by customer_id, member_type, member order by week_start
        ) as previous_last_active_date,
        lead(first_active_date) over (
            partition by customer_id, member_type, member order by week_start
        ) as next_first_active_date

    from member_weeks

),

steps as (

    -- a run starts: +1 from the day after its first active day
    select
        customer_id,
        member_type,
        {{ add_days('first_active_date', 1) }} as step_date,
        1 as step
    from neighbours
    where
        previous_last_active_date is null
        or {{ dbt.datediff('previous_last_active_date', 'first_active_date', 'day') }} > 30

    union all

    -- a run ends: -1 from 31 days after its last active day
    select
        customer_id,
        member_type,
        {{ add_days('last_active_date', 31) }} as step_date,
        -1 as step
    from neighbours
    where
        next_first_active_date is null
        or {{ dbt.datediff('last_active_date', 'next_first_active_date', 'day') }} > 30

),

stream as (

    select
        steps.customer_id,
        steps.step_date as activity_date,
        0 as row_order,
        cast(null as date) as as_of_date,
        case when steps.member_type = 'user' then steps.step else 0 end as user_step,
        case when steps.member_type = 'feature' then steps.step else 0 end as feature_step

    from steps
    inner join spine_customers
        on steps.customer_id = spine_customers.customer_id

    union all

    select
        customer_id,
        as_of_date as activity_date,
        1 as row_order,
        as_of_date,
        0 as user_step,
        0 as feature_step

    from spine

),

running_counts as (

    select
        customer_id,
        as_of_date,
        sum(user_step) over (
            partition by customer_id order by activity_date, row_order
            rows between unbounded preceding and current row
        ) as active_users_30d,
        sum(feature_step) over (
            partition by customer_id order by activity_date, row_order
            rows between unbounded preceding and current row
        ) as distinct_features_30d

    from stream

),

counts as (

    -- a full build reads the running totals, an incremental run the direct counts; the
    -- other branch is never referenced, so the warehouse never runs it
    select * from {% if incremental %}direct_counts{% else %}running_counts{% endif %}

)

select
    counts.customer_id,
    counts.as_of_date,
    cast(counts.active_users_30d as {{ dbt.type_bigint() }}) as active_users_30d,
    cast(counts.distinct_features_30d as {{ dbt.type_bigint() }}) as distinct_features_30d,
    usage_watermark.usage_loaded_at
from counts
cross join usage_watermark
where counts.as_of_date is not null
