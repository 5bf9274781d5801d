-- how each scored week's tiers were drawn: the lowest probability that made High and Medium
-- (the effective thresholds, whether set as probabilities or as a High capacity)

with

history as (

    select * from {{ ref('customer_risk_history') }}

),

weeks as (

    select
        as_of_date,
        max(model_version) as model_version,
        count(*) as customers,
        cast(sum(case when risk_tier = 'High' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as high_customers,
        cast(sum(case when risk_tier = 'Medium' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as medium_customers,
        cast(sum(case when risk_tier = 'Low' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as low_customers,
        min(case when risk_tier = 'High' then churn_probability end) as high_min_probability,
        min(case when risk_tier = 'Medium' then churn_probability end) as medium_min_probability,
        max(case when risk_tier = 'Low' then churn_probability end) as low_max_probability,
        avg(churn_probability) as mean_probability

    from history
    group by as_of_date

)

select * from weeks
