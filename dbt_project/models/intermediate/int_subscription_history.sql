-- subscription states with their validity. incremental: a run recomputes the whole history
-- of the customers with subscription events (or a Stripe customer record) loaded since the
-- last run, since a new event ends the validity of the one before it
{{ incremental_by_customer_date(['event_id'], none) }}

with

subscription_events as (

    select * from {{ ref('stg_stripe__subscription_events') }}
    where is_valid

),

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

mapped as (

    select
        subscription_events.*,
        stripe_customers.customer_id,
        -- a row is new when its event or the Stripe customer it maps through is
        greatest(subscription_events.loaded_at, stripe_customers.loaded_at) as mapped_loaded_at

    from subscription_events
    inner join stripe_customers
        on subscription_events.stripe_customer_id = stripe_customers.stripe_customer_id

),

recomputed as (

    -- a full build prices every event, an incremental run the changed customers' events
    {{ rows_of_changed_keys('mapped', 'customer_id', 'mapped_loaded_at') }}

),

priced as (

    select
        ---------- ids
        event_id,
        customer_id,
        subscription_id,

        ---------- state after the event
        event_type,
        status,
        plan,
        plan_interval,
        seats,
        discount_percent_off,
        coalesce(discount_percent_off, 0) > 0 as has_discount,
        cancel_at_period_end,
        current_period_end,
        canceled_at,
        case
            when status = 'canceled' then 0.0
            else plan_amount_cents * seats
                / (case when plan_interval = 'year' then 12.0 else 1.0 end)
                * (1 - coalesce(discount_percent_off, 0) / 100.0)
                / 100.0
        end as mrr,

        ---------- validity: the state holds from this event until the customer's next one
        event_at as valid_from,
        lead(event_at) over (
            partition by customer_id order by event_at, event_id
        ) as valid_to,
        mapped_loaded_at as loaded_at

    from recomputed
    where customer_id is not null

)

select * from priced
