{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', 'day', churn_dates_from='int_customer_churn_dates'
) }}
{%- set incremental = incremental_branch() %}

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

watermark as (

    {{ inputs_watermark([(ref('int_customer_weeks'), 'added_loaded_at'), (ref('int_cs_action_facts'), 'loaded_at')]) }}

),

{% if incremental %}
    changes as (

        {{ changed_customers([(ref('int_cs_action_facts'), 'action_date')]) }}

    ),
{% endif %}

targets as (

    -- a full build computes every spine row, an incremental run only those that may change
    select
        spine.customer_id,
        spine.as_of_date

    from spine
    {% if incremental %}
        {{ snapshots_to_recompute('spine', 'changes') }}
    {% endif %}

),

aggregated as (

    select
        spine.customer_id,
        spine.as_of_date,
        sum(case
            when actions.is_contact and actions.action_date >= {{ add_days('spine.as_of_date', -90) }}
                then 1
            else 0
        end) as cs_contacts_90d,
        sum(case
            when actions.is_offer and actions.action_date >= {{ add_days('spine.as_of_date', -90) }}
                then 1
            else 0
        end) as cs_offers_90d,
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
