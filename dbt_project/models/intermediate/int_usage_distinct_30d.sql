-- distinct users and features with an event in [D - 30, D). A member active on day x counts
-- for the snapshots D in (x, x + 30]. Its active weeks merge into runs while the gap between
-- them is at most 30 days; a run from s to e counts for D in (s, e + 30]. So each run adds +1
-- on day s + 1 and -1 on day e + 31, and a running total of those steps read at D is the
-- number of members active in the window.

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

running as (

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

)

select
    customer_id,
    as_of_date,
    cast(active_users_30d as {{ dbt.type_bigint() }}) as active_users_30d,
    cast(distinct_features_30d as {{ dbt.type_bigint() }}) as distinct_features_30d
from running
where as_of_date is not null
