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
{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', churn_dates_from='int_customer_churn_dates'
) }}
{%- set incremental = incremental_branch() %}

with

member_weeks as (

    select * from {{ ref('int_usage_member_weeks') }}

),

spine as (

    select
        customer_id,
        as_of_date,
        added_loaded_at as spine_loaded_at
    from {{ ref('int_customer_weeks') }}

),

{{ snapshot_targets([(ref('int_usage_member_weeks'), 'week_start')]) }},

window_start as (

    -- per customer, the oldest week any of its target snapshots reads
    select
        customer_id,
        {{ add_days('min(as_of_date)', -35) }} as first_week_start
    from targets
    group by customer_id

),

recent_member_weeks as (

    select member_weeks.*

    from member_weeks
    inner join window_start
        on
            member_weeks.customer_id = window_start.customer_id
            and member_weeks.week_start >= window_start.first_week_start

),

window_members as (

    select
        targets.customer_id,
        targets.as_of_date,
        recent_member_weeks.member_type,
        recent_member_weeks.member

    from targets
    inner join recent_member_weeks
        on
            targets.customer_id = recent_member_weeks.customer_id
            and targets.as_of_date > recent_member_weeks.week_start
            and {{ add_days('targets.as_of_date', -35) }} <= recent_member_weeks.week_start
            and {{ add_days('targets.as_of_date', -30) }} <= recent_member_weeks.last_active_date

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

merged_member_weeks as (

    -- a member-week that several loads touched has a row from each: one row per member-week
    select
        customer_id,
        member_type,
        member,
        week_start,
        min(first_active_date) as first_active_date,
        max(last_active_date) as last_active_date

    from member_weeks
    group by customer_id, member_type, member, week_start

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

    from merged_member_weeks

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
    watermark.inputs_loaded_at
from counts
cross join watermark
where counts.as_of_date is not null
