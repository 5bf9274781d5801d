{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', 'day', churn_dates_from='int_customer_churn_dates'
) }}

{%- set bigint = dbt.type_bigint() %}

with

spine as (

    select
        customer_id,
        as_of_date,
        added_loaded_at as spine_loaded_at
    from {{ ref('int_customer_weeks') }}

),

actions as (

    select * from {{ ref('int_cs_action_facts') }}

),

{{ snapshot_targets([(ref('int_cs_action_facts'), 'action_date')]) }},

aggregated as (

    -- features are cast to the data_type their YAML declares (the features contract checks it)
    select
        spine.customer_id,
        spine.as_of_date,
        cast(sum(case
            when actions.is_contact and actions.action_date >= {{ add_days('spine.as_of_date', -90) }}
                then 1
            else 0
        end) as {{ bigint }}) as cs_contacts_90d,
        cast(sum(case
            when actions.is_offer and actions.action_date >= {{ add_days('spine.as_of_date', -90) }}
                then 1
            else 0
        end) as {{ bigint }}) as cs_offers_90d,
        max(actions.action_date) as last_cs_action_date

    -- every target gets a row, so that a recomputed snapshot replaces the one before
    from targets as spine
    left join actions
        on spine.customer_id = actions.customer_id
            and spine.as_of_date > actions.action_date
    group by spine.customer_id, spine.as_of_date

)

select
    aggregated.*,
    watermark.inputs_loaded_at
from aggregated
cross join watermark
