with

actions as (

    select * from {{ ref('stg_cs__actions') }}
    where is_valid

),

facts as (

    select
        action_id,
        customer_id,
        source_system,
        action_type,
        action_type = 'contacted' as is_contact,
        action_type = 'offer_made' as is_offer,
        outcome,
        action_at,
        action_date,
        loaded_at

    from actions

)

select * from facts
