-- customer_features plus the label, only for snapshots whose horizon has fully passed:
-- as_of_date + churn_horizon_days <= the latest date with data in the sources

{#- the contract (this model's YAML) must list the declared features as declared -#}
{{ check_feature_contract(['customer_id', 'as_of_date', 'churned']) }}
{%- set horizon = var('churn_horizon_days') %}

with

features as (

    select * from {{ ref('int_customer_features') }}

),

data_range as (

    select * from {{ ref('int_data_range') }}

),

labelled as (

    select
        {{ all_columns_except('features', ['churn_date', 'inputs_loaded_at']) }},
        coalesce(
            features.churn_date >= features.as_of_date
            and features.churn_date < {{ add_days('features.as_of_date', horizon) }},
            false
        ) as churned

    from features
    cross join data_range
    where {{ add_days('features.as_of_date', horizon) }} <= data_range.latest_data_date

)

select * from labelled
