with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where
        is_valid
        and event_type = 'customer.created'

),

extracted as (

    select
        {{ stripe_field('id') }} as stripe_customer_id,
        {{ stripe_field('metadata.customer_id') }} as customer_id,
        {{ stripe_field('email') }} as email,
        {{ stripe_field('name') }} as customer_name,
        created_at,
        event_id,
        loaded_at

    from events

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by stripe_customer_id order by created_at, event_id
        ) as event_rank

    from extracted
    where stripe_customer_id is not null

)

select
    stripe_customer_id,
    customer_id,
    email,
    customer_name,
    created_at,
    event_id,
    loaded_at
from deduplicated
where event_rank = 1
