-- the last CS actions (CRM and the app) of each customer on the at-risk list, newest first

with

at_risk as (

    select customer_id from {{ ref('at_risk_customers') }}

),

actions as (

    select * from {{ ref('stg_cs__actions') }}
    where is_valid

),

ranked as (

    select
        actions.action_id,
        actions.customer_id,
        actions.source_system,
        actions.action_type,
        actions.action_at,
        actions.performed_by,
        actions.outcome,
        actions.note,
        row_number() over (
            partition by actions.customer_id
            order by actions.action_at desc, actions.action_id desc
        ) as recency

    from actions
    inner join at_risk
        on actions.customer_id = at_risk.customer_id

)

select * from ranked
where recency <= 10
