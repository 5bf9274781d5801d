-- one row per customer High-risk episode: consecutive scored weeks in which the customer is
-- High, from the first to the next scored week that is not High; its holdout group, and
-- whether the customer churned within the horizon after its start

{%- set string = dbt.type_string() %}
{%- set horizon = var('churn_horizon_days') %}

with

history as (

    select * from {{ ref('customer_risk_history') }}

),

assignments as (

    select *
    from {{ source_or_empty('ml', 'holdout_assignments', {
        'customer_id': string,
        'episode_start': 'date',
        'holdout_group': string,
        'share': dbt.type_float(),
        'key_id': string,
        'hash_version': string,
        'model_name': string,
        'model_version': string,
        'assigned_at': dbt.type_timestamp(),
    }) }}

),

churn_dates as (

    select * from {{ ref('int_customer_churn_dates') }}

),

data_end as (

    select latest_data_date
    from {{ ref('int_data_range') }}

),

---------- a scored week ends every episode open before it unless it is High
weeks as (

    select
        customer_id,
        as_of_date,
        risk_tier,
        previous_tier,
        mrr,
        min(case when risk_tier != 'High' then as_of_date end) over (
            partition by customer_id
            order by as_of_date
            rows between 1 following and unbounded following
        ) as next_not_high_date

    from history

),

starts as (

    select
        customer_id,
        as_of_date as episode_start,
        next_not_high_date as episode_end,
        mrr as mrr_at_start

    from weeks
    where risk_tier = 'High' and (previous_tier is null or previous_tier != 'High')

),

---------- the assignment table is insert-only; a duplicate key would be a concurrent write
first_assignment as (

    select
        customer_id,
        cast(episode_start as date) as episode_start,
        holdout_group,
        share,
        row_number() over (
            partition by customer_id, cast(episode_start as date)
            order by assigned_at, model_version
        ) as assignment_rank

    from assignments

),

final as (

    select
        starts.customer_id,
        starts.episode_start,
        starts.episode_end,
        starts.episode_end is null as is_open,
        cast({{ dbt.date_trunc('month', 'starts.episode_start') }} as date) as scoring_month,
        coalesce(first_assignment.holdout_group, 'untracked') as holdout_group,
        first_assignment.share as assigned_share,
        starts.mrr_at_start,
        {{ add_days('starts.episode_start', horizon) }} as horizon_end_date,
        {{ add_days('starts.episode_start', horizon) }} <= data_end.latest_data_date
            as horizon_passed,
        churn_dates.churn_date,
        case
            when {{ add_days('starts.episode_start', horizon) }} > data_end.latest_data_date
                then null
            else churn_dates.churn_date is not null
                and churn_dates.churn_date >= starts.episode_start
                and churn_dates.churn_date < {{ add_days('starts.episode_start', horizon) }}
        end as churned_within_horizon

    from starts
    cross join data_end
    left join first_assignment
        on starts.customer_id = first_assignment.customer_id
            and starts.episode_start = first_assignment.episode_start
            and first_assignment.assignment_rank = 1
    left join churn_dates
        on starts.customer_id = churn_dates.customer_id

)

select * from final
