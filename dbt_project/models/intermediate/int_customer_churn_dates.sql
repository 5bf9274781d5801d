with

subscription_events as (

    select * from {{ ref('stg_stripe__subscription_events') }}
    where is_valid

),

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

cancellations as (

    select
        stripe_customers.customer_id,
        min(subscription_events.event_at) as churned_at,
        -- the latest load of the customer's cancellations or of its Stripe customer
        max(greatest(subscription_events.loaded_at, stripe_customers.loaded_at)) as loaded_at

    from subscription_events
    inner join stripe_customers
        on subscription_events.stripe_customer_id = stripe_customers.stripe_customer_id
    where subscription_events.event_type = 'customer.subscription.deleted'
        and stripe_customers.customer_id is not null
    group by stripe_customers.customer_id

)

select
    customer_id,
    churned_at,
    cast(churned_at as date) as churn_date,
    loaded_at
from cancellations
