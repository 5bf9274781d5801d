-- incremental: stg_stripe__events only ever adds events, so a run extracts the subscription events
-- staged since the last run
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
{%- set incremental = incremental_branch() %}

with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where
        is_valid
        and event_type in (
            'customer.subscription.created',
            'customer.subscription.updated',
            'customer.subscription.deleted'
        )

),

new_events as (

    -- a full build extracts every event, an incremental run those staged since the last run
    select * from events
    {% if incremental %}
        where loaded_at > {{ last_loaded_at() }}
    {% endif %}

),

extracted as (

    select
        ---------- ids
        event_id,
        {{ stripe_field('id') }} as subscription_id,
        {{ stripe_field('customer') }} as stripe_customer_id,

        ---------- event
        event_type,
        created_at as event_at,
        created_date as event_date,
        loaded_at,

        ---------- subscription state after the event
        lower({{ stripe_field('status') }}) as status,
        {{ stripe_field('quantity', dbt.type_int()) }} as seats,
        lower({{ stripe_field('plan.nickname') }}) as plan,
        lower({{ stripe_field('plan.interval') }}) as plan_interval,
        {{ stripe_field('plan.amount', dbt.type_bigint()) }} as plan_amount_cents,
        {{ stripe_field('discount.coupon.percent_off', dbt.type_float()) }} as discount_percent_off,
        lower({{ stripe_field('cancel_at_period_end') }}) = 'true' as cancel_at_period_end,
        {{ stripe_timestamp_field('current_period_start') }} as current_period_start,
        {{ stripe_timestamp_field('current_period_end') }} as current_period_end,
        {{ stripe_timestamp_field('canceled_at') }} as canceled_at

    from new_events

)

select
    *,
    case
        when subscription_id is null then 'missing subscription id'
        when stripe_customer_id is null then 'missing customer'
    end as invalid_reason,
    subscription_id is not null and stripe_customer_id is not null as is_valid
from extracted
