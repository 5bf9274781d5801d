-- ticket facts per snapshot: the state of each ticket as of D is its last version updated
-- on a day before D
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

tickets as (

    select * from {{ ref('int_ticket_history') }}

),

{{ snapshot_targets([(ref('int_ticket_history'), 'cast(valid_from as date)')]) }},

state_as_of as (

    select
        spine.customer_id,
        spine.as_of_date,
        tickets.ticket_id,
        tickets.is_resolved,
        tickets.is_escalated,
        tickets.satisfaction_score,
        tickets.created_date

    -- every target gets a row, so that a recomputed snapshot replaces the one before
    from targets as spine
    left join tickets
        on spine.customer_id = tickets.customer_id
            and cast(tickets.valid_from as date) < spine.as_of_date
            and (tickets.valid_to is null or cast(tickets.valid_to as date) >= spine.as_of_date)

),

aggregated as (

    -- features are cast to the data_type their YAML declares (the features contract checks it)
    select
        customer_id,
        as_of_date,
        cast(sum(case
            when created_date >= {{ add_days('as_of_date', -90) }} then 1 else 0
        end) as {{ bigint }}) as tickets_90d,
        cast(sum(case
            when created_date >= {{ add_days('as_of_date', -90) }} and is_escalated then 1 else 0
        end) as {{ bigint }}) as escalated_tickets_90d,
        cast(sum(case
            when created_date >= {{ add_days('as_of_date', -90) }} and satisfaction_score = 'bad'
                then 1
            else 0
        end) as {{ bigint }}) as bad_satisfaction_90d,
        cast(sum(case when not is_resolved then 1 else 0 end) as {{ bigint }}) as open_tickets,
        cast(max(case
            when not is_resolved then {{ dbt.datediff('created_date', 'as_of_date', 'day') }}
        end) as {{ bigint }}) as oldest_open_ticket_days

    from state_as_of
    group by customer_id, as_of_date

)

select
    aggregated.*,
    watermark.inputs_loaded_at
from aggregated
cross join watermark
