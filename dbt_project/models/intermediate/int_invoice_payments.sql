-- invoice events mapped to customers. incremental: a run adds the events whose row or whose
-- Stripe customer record was loaded since the last run
{{ incremental_by_customer_date(['event_id'], none) }}
{%- set incremental = incremental_branch() %}

with

invoice_events as (

    select * from {{ ref('stg_stripe__invoice_events') }}

),

stripe_customers as (

    select * from {{ ref('stg_stripe__customers') }}

),

payments as (

    select
        invoice_events.event_id,
        invoice_events.invoice_id,
        stripe_customers.customer_id,
        invoice_events.subscription_id,
        invoice_events.event_type,
        invoice_events.is_payment_failure,
        invoice_events.event_at,
        invoice_events.event_date,
        invoice_events.amount_due,
        invoice_events.amount_paid,
        invoice_events.attempt_count,
        -- a row is new when its event or the Stripe customer it maps through is
        greatest(invoice_events.loaded_at, stripe_customers.loaded_at) as loaded_at

    from invoice_events
    inner join stripe_customers
        on invoice_events.stripe_customer_id = stripe_customers.stripe_customer_id
    where stripe_customers.customer_id is not null

),

new_payments as (

    -- a full build maps every event, an incremental run those loaded (or mapped) since
    select * from payments
    {% if incremental %}
        where loaded_at > {{ last_loaded_at() }}
    {% endif %}

)

select * from new_payments
