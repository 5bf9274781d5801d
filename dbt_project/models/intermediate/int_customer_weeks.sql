with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

churn_dates as (

    select * from {{ ref('int_customer_churn_dates') }}

),

data_range as (

    select
        min(usage_date) as first_data_date,
        max(usage_date) as latest_data_date

    from daily_usage

),

bounds as (

    select
        first_data_date,
        latest_data_date,
        -- first Monday once `spine_warmup_days` of usage data exist, so 90-day windows are full
        {{ week_start(add_days(add_days('first_data_date', var('spine_warmup_days')), 6)) }} as first_as_of_date,
        -- a snapshot on day D uses data < D: the day after the latest data is still complete
        {{ add_days('latest_data_date', 1) }} as last_possible_as_of_date

    from data_range

),

week_numbers as (

    {{ dbt.generate_series(1000) }}

),

weeks as (

    select
        {{ add_days('bounds.first_as_of_date', '7 * (week_numbers.generated_number - 1)') }} as as_of_date,
        bounds.latest_data_date

    from bounds
    cross join week_numbers

),

spine as (

    select
        customers.customer_id,
        weeks.as_of_date,
        customers.signup_date,
        churn_dates.churn_date,
        weeks.latest_data_date

    from weeks
    inner join bounds
        on weeks.as_of_date <= bounds.last_possible_as_of_date
    inner join customers
        on weeks.as_of_date > customers.signup_date
    left join churn_dates
        on customers.customer_id = churn_dates.customer_id
    -- active at D: signed up before D and not cancelled before D
    where churn_dates.churn_date is null
        or churn_dates.churn_date >= weeks.as_of_date

)

select * from spine
