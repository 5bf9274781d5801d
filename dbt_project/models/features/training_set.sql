-- customer_features plus the label, only for snapshots whose horizon has fully passed:
-- as_of_date + churn_horizon_days <= the latest date with data in the sources

{%- set horizon = var('churn_horizon_days') %}

with

features as (

    select * from {{ ref('customer_features') }}

),

spine as (

    select
        customer_id,
        as_of_date,
        churn_date,
        latest_data_date
    from {{ ref('int_customer_weeks') }}

),

labelled as (

    select
        features.*,
        coalesce(
            spine.churn_date >= features.as_of_date
            and spine.churn_date < {{ add_days('features.as_of_date', horizon) }},
            false
        ) as churned

    from features
    inner join spine
        on features.customer_id = spine.customer_id
            and features.as_of_date = spine.as_of_date
    where {{ add_days('features.as_of_date', horizon) }} <= spine.latest_data_date

)

select * from labelled
