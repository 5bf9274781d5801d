-- windowed usage counts per snapshot from the daily aggregates. Days roll up into ISO weeks
-- (with partial sums from Tuesday, Thursday and Saturday on), so every window [D - N, D) is a
-- few whole weeks plus the tail of one week: D - 30 is a Saturday, D - 60 a Thursday and
-- D - 90 a Tuesday when D is a Monday.
-- incremental: a run computes only the snapshots that new usage can change (those after the
-- earliest day that received events since the last run, late days included) and the spine
-- rows it has never computed (a new week, a customer that arrived late); the rest stay.
{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', churn_dates_from='int_customer_churn_dates'
) }}

{%- set bigint = dbt.type_bigint() %}

with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}

),

spine as (

    select
        customer_id,
        as_of_date,
        added_loaded_at as spine_loaded_at
    from {{ ref('int_customer_weeks') }}

),

{{ snapshot_targets([(ref('int_usage_daily'), 'usage_date')]) }},

bounds as (

    -- per customer, the 13 weeks before its earliest target snapshot are the oldest any
    -- window reads
    select
        customer_id,
        {{ add_days('min(as_of_date)', -91) }} as first_week_start
    from targets
    group by customer_id

),

earlier_logins as (

    -- the last login before those weeks, for customers idle for longer than 13 weeks (read
    -- by ref(): DuckDB would materialize the whole daily_usage CTE if it were read twice)
    select
        daily_usage.customer_id,
        max(daily_usage.usage_date) as last_login_date

    from {{ ref('int_usage_daily') }} as daily_usage
    inner join bounds
        on
            daily_usage.customer_id = bounds.customer_id
            and daily_usage.usage_date < bounds.first_week_start
    where daily_usage.logins > 0
    group by daily_usage.customer_id

),

days as (

    select
        daily_usage.*,
        {{ week_start('daily_usage.usage_date') }} as week_start,
        {{ dbt.datediff(week_start('daily_usage.usage_date'), 'daily_usage.usage_date', 'day') }}
            as day_of_week,
        case when daily_usage.events > 0 then 1 else 0 end as active_days

    from daily_usage
    inner join bounds
        on
            daily_usage.customer_id = bounds.customer_id
            and daily_usage.usage_date >= bounds.first_week_start

),

weekly as (

    select
        customer_id,
        week_start,
        sum(logins) as logins,
        sum(case when day_of_week >= 1 then logins else 0 end) as logins_from_tuesday,
        sum(case when day_of_week >= 3 then logins else 0 end) as logins_from_thursday,
        sum(case when day_of_week >= 5 then logins else 0 end) as logins_from_saturday,
        {%- for measure in ['events', 'active_days', 'feature_uses', 'exports', 'integration_syncs'] %}
            sum({{ measure }}) as {{ measure }},
            sum(case when day_of_week >= 5 then {{ measure }} else 0 end)
                as {{ measure }}_from_saturday,
        {%- endfor %}
        max(case when logins > 0 then usage_date end) as last_login_date

    from days
    group by customer_id, week_start

),

spine_weeks as (

    -- the 13 weeks before each snapshot; weeks_back = 1 is the week just before D
    select
        spine.customer_id,
        spine.as_of_date,
        {{ dbt.datediff('weekly.week_start', 'spine.as_of_date', 'day') }} / 7 as weeks_back,
        weekly.*

    from targets as spine
    inner join weekly
        on
            spine.customer_id = weekly.customer_id
            and spine.as_of_date > weekly.week_start
            and weekly.week_start >= {{ add_days('spine.as_of_date', -91) }}

),

windows as (

    select
        customer_id,
        as_of_date,

        ---------- [D-7, D): the week before D
        sum(case when weeks_back = 1 then logins else 0 end) as logins_7d,
        sum(case when weeks_back = 1 then events else 0 end) as events_7d,

        ---------- [D-30, D): four weeks and the weekend before them
        {%- for measure in ['logins', 'events', 'active_days', 'feature_uses', 'exports', 'integration_syncs'] %}
            sum(case
                when weeks_back <= 4 then {{ measure }}
                when weeks_back = 5 then {{ measure }}_from_saturday
                else 0
            end) as {{ measure }}_30d,
        {%- endfor %}

        ---------- [D-60, D-30): Thursday to Sunday, three weeks, Monday to Friday
        sum(case
            when weeks_back = 5 then logins - logins_from_saturday
            when weeks_back between 6 and 8 then logins
            when weeks_back = 9 then logins_from_thursday
            else 0
        end) as logins_prev_30d,

        ---------- [D-90, D): twelve weeks and Tuesday to Sunday before them
        sum(case
            when weeks_back <= 12 then logins
            when weeks_back = 13 then logins_from_tuesday
            else 0
        end) as logins_90d

    from spine_weeks
    group by customer_id, as_of_date

),

login_stream as (

    select
        customer_id,
        week_start as activity_date,
        -- a week starting on D holds days >= D: it sorts after the snapshot row of D
        1 as row_order,
        cast(null as date) as as_of_date,
        last_login_date
    from weekly

    union all

    select
        customer_id,
        as_of_date as activity_date,
        0 as row_order,
        as_of_date,
        cast(null as date) as last_login_date
    from targets

),

last_logins as (

    -- the last login day before D, however long ago: a running max over the weeks
    select
        customer_id,
        as_of_date,
        max(last_login_date) over (
            partition by customer_id order by activity_date asc, row_order asc
            rows between unbounded preceding and current row
        ) as last_login_date

    from login_stream

),

joined as (

    select
        spine.customer_id,
        spine.as_of_date,
        cast(coalesce(windows.logins_7d, 0) as {{ bigint }}) as logins_7d,
        cast(coalesce(windows.logins_30d, 0) as {{ bigint }}) as logins_30d,
        cast(coalesce(windows.logins_prev_30d, 0) as {{ bigint }}) as logins_prev_30d,
        cast(coalesce(windows.logins_90d, 0) as {{ bigint }}) as logins_90d,
        cast({{ dbt.datediff(
            'coalesce(last_logins.last_login_date, earlier_logins.last_login_date)',
            'spine.as_of_date',
            'day',
        ) }} as {{ bigint }}) as days_since_last_login,
        cast(coalesce(windows.events_7d, 0) as {{ bigint }}) as events_7d,
        cast(coalesce(windows.events_30d, 0) as {{ bigint }}) as events_30d,
        cast(coalesce(windows.active_days_30d, 0) as {{ bigint }}) as active_days_30d,
        cast(coalesce(windows.feature_uses_30d, 0) as {{ bigint }}) as feature_uses_30d,
        cast(coalesce(windows.exports_30d, 0) as {{ bigint }}) as exports_30d,
        cast(coalesce(windows.integration_syncs_30d, 0) as {{ bigint }}) as integration_syncs_30d,
        watermark.inputs_loaded_at

    from targets as spine
    cross join watermark
    left join windows
        on
            spine.customer_id = windows.customer_id
            and spine.as_of_date = windows.as_of_date
    left join last_logins
        on
            spine.customer_id = last_logins.customer_id
            and spine.as_of_date = last_logins.as_of_date
    left join earlier_logins
        on spine.customer_id = earlier_logins.customer_id

)

select * from joined
