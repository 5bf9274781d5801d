-- one row per customer per scoring month in which they were High risk: the first High week of
-- the month, whether CS contacted them within the horizon after it, and whether they were still
-- active when the horizon passed (known only once it has passed); the holdout group of the
-- High episode the flag belongs to

{%- set horizon = var('churn_horizon_days') %}

with

history as (

    select * from {{ ref('customer_risk_history') }}

),

actions as (

    select * from {{ ref('int_cs_action_facts') }}

),

churn_dates as (

    select * from {{ ref('int_customer_churn_dates') }}

),

episodes as (

    select * from {{ ref('high_risk_episodes') }}

),

data_end as (

    select latest_data_date
    from {{ ref('int_data_range') }}

),

flagged as (

    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as scoring_month,
        min(as_of_date) as flagged_date

    from history
    where risk_tier = 'High'
    group by customer_id, cast({{ dbt.date_trunc('month', 'as_of_date') }} as date)

),

cases as (

    select
        flagged.customer_id,
        flagged.scoring_month,
        flagged.flagged_date,
        {{ add_days('flagged.flagged_date', horizon) }} as horizon_end_date

    from flagged

),

contacts as (

    select
        cases.customer_id,
        cases.scoring_month,
        count(*) as cs_actions,
        min(actions.action_date) as first_cs_action_date

    from cases
    inner join actions
        on cases.customer_id = actions.customer_id
            and cases.flagged_date <= actions.action_date
            and cases.horizon_end_date > actions.action_date
    left join churn_dates
        on cases.customer_id = churn_dates.customer_id
    ---------- a contact after the customer cancelled did not try to save them
    where churn_dates.churn_date is null or actions.action_date < churn_dates.churn_date
    group by cases.customer_id, cases.scoring_month

),

final as (

    select
        cases.customer_id,
        cases.scoring_month,
        cases.flagged_date,
        cases.horizon_end_date,
        coalesce(contacts.cs_actions, 0) as cs_actions,
        contacts.first_cs_action_date,
        contacts.customer_id is not null as cs_contacted,
        coalesce(episodes.holdout_group, 'untracked') as holdout_group,
        churn_dates.churn_date,
        cases.horizon_end_date <= data_end.latest_data_date as horizon_passed,
        case
            when cases.horizon_end_date > data_end.latest_data_date then null
            else churn_dates.churn_date is null or churn_dates.churn_date >= cases.horizon_end_date
        end as still_active_at_horizon

    from cases
    cross join data_end
    left join contacts
        on cases.customer_id = contacts.customer_id
            and cases.scoring_month = contacts.scoring_month
    left join churn_dates
        on cases.customer_id = churn_dates.customer_id
    left join episodes
        on cases.customer_id = episodes.customer_id
            and cases.flagged_date >= episodes.episode_start
            and (episodes.episode_end is null or cases.flagged_date < episodes.episode_end)

)

select * from final
