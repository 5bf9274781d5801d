-- per scoring month: of the High-risk customers CS contacted in the first days after the flag
-- (and, beside it, of those it did not), the share still active when the churn horizon passed;
-- both groups are followed from the same day, so a customer gone before CS could call is in
-- neither; months whose horizon has not fully passed count their open cases apart

{%- set contact_days = var('save_rate_contact_days') %}

with

high_risk as (

    select * from {{ ref('high_risk_cases') }}

),

---------- the control group is kept off the CS list: save_effect compares it, not this view
cases as (

    select
        customer_id,
        scoring_month,
        horizon_passed,
        still_active_at_horizon,
        coalesce(first_cs_action_date < {{ add_days('flagged_date', contact_days) }}, false)
            as cs_contacted,
        churn_date is null or churn_date >= {{ add_days('flagged_date', contact_days) }}
            as active_after_contact_window

    from high_risk
    where holdout_group != 'control'

),

months as (

    select distinct scoring_month
    from cases

),

contacted as (

    select true as cs_contacted
    union all
    select false as cs_contacted

),

groups as (

    select
        months.scoring_month,
        contacted.cs_contacted

    from months
    cross join contacted

),

counted as (

    select
        scoring_month,
        cs_contacted,
        count(*) as high_risk_customers,
        cast(sum(case when horizon_passed then 1 else 0 end) as {{ dbt.type_bigint() }})
            as horizon_passed_customers,
        cast(sum(
            case when horizon_passed and active_after_contact_window then 1 else 0 end
        ) as {{ dbt.type_bigint() }}) as compared_customers,
        cast(sum(
            case when active_after_contact_window and still_active_at_horizon then 1 else 0 end
        ) as {{ dbt.type_bigint() }}) as still_active_customers

    from cases
    group by scoring_month, cs_contacted

),

final as (

    select
        groups.scoring_month,
        groups.cs_contacted,
        case when groups.cs_contacted then 'contacted' else 'not contacted' end as cs_group,
        coalesce(counted.high_risk_customers, 0) as high_risk_customers,
        coalesce(counted.horizon_passed_customers, 0) as horizon_passed_customers,
        coalesce(counted.high_risk_customers, 0)
        - coalesce(counted.horizon_passed_customers, 0) as open_customers,
        coalesce(counted.compared_customers, 0) as compared_customers,
        coalesce(counted.still_active_customers, 0) as still_active_customers,
        coalesce(counted.still_active_customers, 0) * 1.0
        / nullif(counted.compared_customers, 0) as save_rate

    from groups
    left join counted
        on groups.scoring_month = counted.scoring_month
            and groups.cs_contacted = counted.cs_contacted

)

select * from final
