-- the span of the usage data and the Mondays the spine covers: one row. Kept apart from the
-- spine so that a new week of data moves this row, not a column of every spine row. Only
-- valid events count (staging flags those dated outside the time window), and the span never
-- passes the day of the latest load: the spine and the label windows end at the load's date,
-- never at the largest timestamp a source sent.

with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}

),

data_range as (

    select
        min(usage_date) as first_data_date,
        max(usage_date) as latest_usage_date,
        max(loaded_at) as loaded_at

    from daily_usage

),

bounds as (

    select
        first_data_date,
        least(latest_usage_date, cast(loaded_at as date)) as latest_data_date,
        -- first Monday once `spine_warmup_days` of usage data exist, so 90-day windows are full
        {{ week_start(add_days(add_days('first_data_date', var('spine_warmup_days')), 6)) }} as first_as_of_date,
        -- a snapshot on day D uses data < D: the day after the latest data is still complete
        least(
            {{ add_days('least(latest_usage_date, cast(loaded_at as date))', 1) }},
            cast(loaded_at as date)
        ) as last_possible_as_of_date,
        loaded_at

    from data_range

)

select * from bounds
